// The per-peer link policy and the sync mode, as transcripts on a fake clock.
#include "lattice/link_policy.h"

#include <fmt/format.h>

#include <memory>

#include "lattice/sync_mode.h"
#include "transcript.h"

namespace aethel::lattice {
namespace {

using test::Command;

std::string describe(const LinkPolicy::Decision& d) {
  std::string out = d.lung == Lung::kP2p ? "lung=p2p" : "lung=http";
  if (d.resend_unacked) out += " resend-unacked";
  if (d.close_p2p) out += " close-p2p";
  return out;
}

std::string timing(const LinkPolicy& link) {
  return fmt::format("stall_after={:.0f} close_after={:.0f}", link.stall_after_ms(),
                     link.close_after_ms());
}

std::string run_link(std::unique_ptr<LinkPolicy>& link, const Command& c) {
  if (c.name == "new") {
    LinkTiming t;
    if (c.has("stall_floor")) t.stall_floor_ms = c.f64("stall_floor");
    if (c.has("multiple")) t.stall_rtt_multiple = c.f64("multiple");
    if (c.has("close_floor")) t.close_floor_ms = c.f64("close_floor");
    if (c.has("max_silence")) t.max_silence_ms = c.f64("max_silence");
    link = std::make_unique<LinkPolicy>(t);
    return timing(*link);
  }
  if (c.name == "ready") return link->p2p_ready(c.u64("t")), "";
  if (c.name == "lost") return link->p2p_lost(), "";
  if (c.name == "answered") {
    std::optional<double> rtt;
    if (c.has("rtt")) rtt = c.f64("rtt");
    link->p2p_answered(c.u64("t"), rtt);
    return fmt::format("srtt={:.1f} rttvar={:.1f} {}", link->rtt().srtt_ms(),
                       link->rtt().rttvar_ms(), timing(*link));
  }
  if (c.name == "http") return link->http_answered(c.u64("t"), c.has("ok")), "";
  if (c.name == "decide") {
    std::optional<TimeMs> unacked;
    if (c.has("unacked_since")) unacked = c.u64("unacked_since");
    return describe(link->decide(c.u64("t"), unacked));
  }
  if (c.name == "state") {
    return std::string(link_state_name(link->state(c.u64("t"), c.f64("window"))));
  }
  return "unknown command " + c.name;
}

std::string lines_or_nothing(const std::vector<std::string>& lines, const SyncModeMachine& m) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out + "mode=" + std::string(sync_mode_name(m.mode()));
}

std::string run_mode(std::unique_ptr<SyncModeMachine>& m, const Command& c) {
  if (c.name == "new") {
    m = std::make_unique<SyncModeMachine>(c.args.at("p2p") == "on", c.args.at("peers") == "yes",
                                          c.u64("timeout"), c.u64("t"));
    return "mode=" + std::string(sync_mode_name(m->mode()));
  }
  if (c.name == "update") return lines_or_nothing(m->update(c.u64("t"), c.u64("peers")), *m);
  if (c.name == "choose") {
    SyncMode mode = SyncMode::kAuto;
    if (!parse_sync_mode(c.args.at("mode"), mode)) return "bad mode";
    return lines_or_nothing(m->choose(c.u64("t"), mode, c.u64("peers")), *m);
  }
  if (c.name == "activations") return std::to_string(m->fallback_activations());
  return "unknown command " + c.name;
}

std::string data(const char* name) {
  return std::string(AETHEL_TESTDATA_DIR) + "/" + name;
}

TEST(LinkPolicy, Transcripts) {
  for (const char* file : {"link_rtt.txt", "link_stall.txt", "link_lungs.txt"}) {
    std::unique_ptr<LinkPolicy> link;
    test::run_transcript(data(file), [&](const Command& c) { return run_link(link, c); });
  }
}

TEST(SyncMode, Transcripts) {
  for (const char* file : {"sync_mode.txt"}) {
    std::unique_ptr<SyncModeMachine> machine;
    test::run_transcript(data(file), [&](const Command& c) { return run_mode(machine, c); });
  }
}

}  // namespace
}  // namespace aethel::lattice
