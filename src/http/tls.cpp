// OpenSSL through Boost.Asio: contexts, per-connection host checks, and error
// messages that say what is wrong with a certificate.
#include "http/tls.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>

namespace aethel::http::tls {
namespace {

// The last OpenSSL error on this thread as text, or `fallback`.
std::string openssl_reason(std::string_view fallback) {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : std::string(fallback);
}

// How many PEM certificates `path` holds, or an explanation of why none can be read.
base::Result<int> count_certificates(const std::string& path) {
  BIO* file = BIO_new_file(path.c_str(), "r");
  if (file == nullptr) {
    return base::Error{"bad_tls_config",
                       fmt::format("cannot read '{}': {}", path, openssl_reason("no such file"))};
  }
  int count = 0;
  while (X509* certificate = PEM_read_bio_X509(file, nullptr, nullptr, nullptr)) {
    X509_free(certificate);
    ++count;
  }
  ERR_clear_error();  // the loop ends with a "no start line" error by design
  BIO_free(file);
  if (count == 0) {
    return base::Error{"bad_tls_config", fmt::format("'{}' holds no PEM certificate", path)};
  }
  return count;
}

EVP_PKEY* read_private_key(const std::string& path) {
  BIO* file = BIO_new_file(path.c_str(), "r");
  if (file == nullptr) return nullptr;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(file, nullptr, nullptr, nullptr);
  BIO_free(file);
  return key;
}

// Why a verified-but-refused certificate was refused, in an operator's words.
std::string verify_problem(long result, const Url& url) {
  std::string reason = X509_verify_cert_error_string(result);
  switch (result) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "it has expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "it is not valid yet (check the clocks)";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return fmt::format("it is not valid for '{}' ({})", url.host, reason);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return fmt::format(
          "it is not issued by a trusted CA ({}); a private CA must be given as "
          "AETHEL_TLS_CA_FILE",
          reason);
    default:
      return reason;
  }
}

}  // namespace

base::Result<std::shared_ptr<Context>> client_context(const TlsTrust& trust) {
  auto context = std::make_shared<Context>(Context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  context->set_default_verify_paths(ec);
  if (ec) {
    return base::Error{"bad_tls_config", "cannot load the system CA store: " + ec.message()};
  }
  if (!trust.ca_file.empty()) {
    auto count = count_certificates(trust.ca_file);
    if (!count.ok()) return count.error();
    context->load_verify_file(trust.ca_file, ec);
    if (ec) {
      return base::Error{"bad_tls_config",
                         fmt::format("cannot load CA file '{}': {}", trust.ca_file, ec.message())};
    }
  }
  context->set_verify_mode(boost::asio::ssl::verify_peer);
  return context;
}

base::Result<std::shared_ptr<Context>> server_context(const ServerTls& files) {
  auto context = std::make_shared<Context>(Context::tls_server);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(native, files.cert_file.c_str()) != 1) {
    return base::Error{"bad_tls_certificate",
                       fmt::format("cannot use '{}' as a PEM certificate chain: {}",
                                   files.cert_file, openssl_reason("unreadable"))};
  }
  EVP_PKEY* key = read_private_key(files.key_file);
  if (key == nullptr) {
    return base::Error{"bad_tls_key", fmt::format("cannot use '{}' as a PEM private key: {}",
                                                  files.key_file, openssl_reason("unreadable"))};
  }
  bool used = SSL_CTX_use_PrivateKey(native, key) == 1;
  EVP_PKEY_free(key);
  if (!used || SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return base::Error{"bad_tls_key",
                       fmt::format("the key in '{}' does not match the certificate in '{}'",
                                   files.key_file, files.cert_file)};
  }
  return context;
}

bool expect_host(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  bool is_address = !ec;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_address) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  // SNI carries host names only (RFC 6066 section 3).
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

base::Error handshake_error(const boost::system::error_code& ec, SSL* ssl, const Url& url) {
  long result = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  if (result != X509_V_OK) {
    return base::Error{"tls_certificate",
                       fmt::format("TLS: refusing the certificate of {}: {}", url.to_string(),
                                   verify_problem(result, url))};
  }
  return base::Error{
      "tls_error", fmt::format("TLS handshake with {} failed: {}", url.to_string(), ec.message())};
}

}  // namespace aethel::http::tls
