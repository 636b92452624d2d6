# Sourced by the scripts that create network namespaces: root is needed, so re-run the caller
# with sudo when it is there, else say what to do. Expects "$0" and "$@" of the caller.
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    echo "$0: needs root; re-running with sudo" >&2
    exec sudo -E "$0" "$@"
  fi
  echo "$0: needs root (it creates network namespaces) and sudo is not installed: run it from a root shell (su -)" >&2
  exit 1
fi
