#!/usr/bin/env bash
# Fails when a function (or lambda) in src/ or sim/ is longer than 70 lines, the
# project's limit (docs/ARCHITECTURE.md). Function extents come from universal-ctags.
# Prints one line per offender: "file:line name (N lines)", then exits 1.
#
# scripts/function-length-allowlist.txt may name functions that are over the limit for
# now: one "path:function" per line (function as printed, e.g. "Host::start", or its
# bare name), each followed by "# <the issue that removes it>". Entries without that
# comment are refused; entries that no longer match an offender are reported so they can
# be deleted.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly MAX_LINES=70
readonly ALLOWLIST=scripts/function-length-allowlist.txt

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
  'src/*.h' 'src/*.cpp' 'sim/*.h' 'sim/*.cpp' | sort -u)
((${#files[@]})) || exit 0
missing=()
for file in "${files[@]}"; do [[ -f $file ]] || missing+=("$file"); done
if ((${#missing[@]})); then  # deleted in the work tree but still in the index
  mapfile -t files < <(printf '%s\n' "${files[@]}" | grep -vxF -f <(printf '%s\n' "${missing[@]}"))
fi

allowed=()
if [[ -f $ALLOWLIST ]]; then
  while IFS= read -r line; do
    entry=${line%%#*}
    entry=${entry//[[:space:]]/}
    [[ -z $entry ]] && continue
    if [[ $line != *"#"*[![:space:]]* ]]; then
      echo "check-function-length: $ALLOWLIST: \"$entry\" needs a comment naming the issue that removes it" >&2
      exit 1
    fi
    allowed+=("$entry")
  done <"$ALLOWLIST"
fi

# name<TAB>file<TAB>excmd<TAB>kind<TAB>fields...: print "file<TAB>line<TAB>display name<TAB>bare
# name<TAB>length" for every function longer than MAX_LINES.
offenders=$(
  ctags --languages=C++ --kinds-C++=f --fields=+ne --excmd=number -o - "${files[@]}" |
    awk -F'\t' -v max="$MAX_LINES" '
      {
        name = $1; file = $2; line = ""; end = ""; scope = ""
        for (i = 4; i <= NF; i++) {
          if ($i ~ /^line:/) line = substr($i, 6)
          else if ($i ~ /^end:/) end = substr($i, 5)
          else if ($i ~ /^(class|struct|union|function):/) scope = $i
        }
        if (line == "" || end == "") next
        length_lines = end - line + 1
        if (length_lines <= max) next
        kind = scope; sub(/:.*/, "", kind)
        owner = scope; sub(/^[a-z]+:/, "", owner); n = split(owner, parts, "::")
        if (name ~ /^__anon/) {
          display = "lambda in " (n >= 2 ? parts[n - 1] "::" : "") parts[n]
        } else if (kind == "class" || kind == "struct" || kind == "union") {
          display = parts[n] "::" name
        } else {
          display = name
        }
        printf "%s\t%s\t%s\t%s\t%d\n", file, line, display, name, length_lines
      }' | sort -t$'\t' -k1,1 -k2,2n
)

failed=0
used=()
while IFS=$'\t' read -r file line display name length; do
  [[ -z ${file:-} ]] && continue
  match=""
  for entry in "${allowed[@]}"; do
    if [[ $entry == "$file:$display" || $entry == "$file:$name" ]]; then match=$entry; fi
  done
  if [[ -n $match ]]; then
    used+=("$match")
    continue
  fi
  echo "$file:$line $display ($length lines)"
  failed=1
done <<<"$offenders"

for entry in "${allowed[@]}"; do
  found=0
  for u in "${used[@]}"; do [[ $u == "$entry" ]] && found=1; done
  if ((!found)); then
    echo "check-function-length: $ALLOWLIST lists $entry, which is no longer over $MAX_LINES lines: delete the line" >&2
  fi
done

if ((failed)); then
  echo "check-function-length: the functions above have more than $MAX_LINES lines; split them" >&2
  exit 1
fi
