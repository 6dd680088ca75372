# Sourced by bin/detect and bin/compile. On the process runtime they run on the host, so a file of the app
# is read only when it resolves inside the app: a requirements.txt linked to /etc/shadow must not reach pip.

# outside_app BUILD_DIR NAME: when NAME resolves outside BUILD_DIR (through any chain of symlinks), print
# where it leads and succeed; otherwise fail quietly.
outside_app() {
  local root target
  root=$(realpath -e -- "$1")
  target=$(realpath -m -- "$1/$2")
  [[ $target != "$root" && $target != "$root"/* ]] && echo "$target"
}
