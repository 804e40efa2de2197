#!/usr/bin/env bash
# lint-dockerfiles.sh [FILE...]: checks Dockerfiles (default docker/*.Dockerfile) against hadolint's common rules,
# which no linter here enforces (no Docker engine and no hadolint on our machines). Exit 1 with one line per finding.
#   DL3000 absolute WORKDIR      DL3002 final USER not root   DL3004 no sudo         DL3006 FROM with a tag
#   DL3007 no :latest            DL3009 apt lists removed     DL3014 apt-get -y      DL3015 --no-install-recommends
#   DL3020 COPY, not ADD         DL3025 JSON ENTRYPOINT/CMD   DL3027 apt-get, not apt DL3042 pip --no-cache-dir
#   DL4000 no MAINTAINER         DL4006 pipefail before a RUN with a pipe
#   and this project's own: the final stage has a USER, is no SDK/devel image, and has an ENTRYPOINT.
# Not checked: DL3008 (pinned apt versions; the CUDA base images move with their tags anyway).
set -euo pipefail
source "$(dirname "$0")/help.sh"
cd "$(dirname "$0")/.."
files=("$@"); [[ ${#files[@]} -gt 0 ]] || files=(docker/*.Dockerfile)

lint() {
  # join continuation lines, drop comments; then one instruction per line
  sed -e 's/^[[:space:]]*#.*$//' "$1" | awk '{ if (sub(/\\[[:space:]]*$/, "")) { buf = buf $0 " " } else { print buf $0; buf = "" } }' \
    | awk -v file="$1" '
    function report(rule, text) { printf "%s: %s %s\n", file, rule, text; bad = 1 }
    { $0 = $0; sub(/^[[:space:]]+/, "") }
    /^$/ { next }
    { instr = toupper($1); line = $0 }
    instr == "ARG" { split($2, kv, "="); if (kv[2] != "") args[kv[1]] = kv[2] }
    instr == "FROM" {
      stage++; user = ""; entry = 0; pipefail = 0; image = $2
      for (a in args) gsub("\\$\\{" a "\\}", args[a], image)
      if (image !~ /:/ && image !~ /@/ && image != "scratch" && !(image in stages)) report("DL3006", "FROM " $2 " has no tag")
      if (image ~ /:latest$/) report("DL3007", "FROM " $2 " uses :latest")
      final = image
      if (toupper($3) == "AS") stages[$4] = 1
    }
    instr == "MAINTAINER" { report("DL4000", "MAINTAINER is deprecated (use a LABEL)") }
    instr == "ADD" { report("DL3020", "ADD: use COPY for files and folders") }
    instr == "WORKDIR" && $2 !~ /^(\/|\$)/ { report("DL3000", "WORKDIR " $2 " is not absolute") }
    instr == "USER" { user = $2 }
    instr == "SHELL" && line ~ /pipefail/ { pipefail = 1 }
    instr == "ENTRYPOINT" || instr == "CMD" {
      if (instr == "ENTRYPOINT") entry = 1
      rest = line; sub(/^[A-Za-z]+[[:space:]]+/, "", rest)
      if (rest !~ /^\[/) report("DL3025", instr " is not in JSON form")
    }
    instr == "RUN" {
      if (line ~ /(^|[^a-z])sudo[[:space:]]/) report("DL3004", "RUN uses sudo")
      if (line ~ /(^|[[:space:];&|])apt[[:space:]]+(install|update)/) report("DL3027", "RUN uses apt; use apt-get")
      if (line ~ /apt-get[[:space:]]+install/) {
        if (line !~ /apt-get[[:space:]]+install[^&;|]*[[:space:]]-(y|[a-z]*y[a-z]*|-yes|-assume-yes)([[:space:]]|$)/) report("DL3014", "apt-get install without -y")
        if (line !~ /--no-install-recommends/) report("DL3015", "apt-get install without --no-install-recommends")
        if (line !~ /rm -rf \/var\/lib\/apt\/lists/) report("DL3009", "apt-get install without removing /var/lib/apt/lists in the same RUN")
      }
      if (line ~ /pip3?[[:space:]]+install/ && line !~ /--no-cache-dir/) report("DL3042", "pip install without --no-cache-dir")
      if (line ~ /[^|]\|[^|]/ && !pipefail) report("DL4006", "RUN with a pipe but no SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"] before it")
    }
    END {
      if (stage == 0) report("DL3061", "no FROM")
      if (user == "") report("DL3002", "the final stage sets no USER (runs as root)")
      else if (user ~ /^(root|0)(:|$)/) report("DL3002", "the final stage runs as root")
      if (final ~ /dotnet\/sdk|-devel/) report("AL001", "the final stage is a build image (" final ")")
      if (!entry) report("AL002", "the final stage has no ENTRYPOINT")
      exit bad
    }'
}

status=0
for file in "${files[@]}"; do
  [[ -f "$file" ]] || { echo "lint-dockerfiles: no file '$file'" >&2; status=1; continue; }
  lint "$file" || status=1
done
[[ $status == 0 ]] && echo "lint-dockerfiles: ${#files[@]} Dockerfile(s) clean"
exit $status
