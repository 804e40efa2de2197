# help.sh: sourced first by the repository's scripts, with their arguments. Given -h or --help it prints the script's
# header (the comment lines after the shebang) and exits, so every script answers --help from one description.
case "${1:-}" in
  -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
esac
