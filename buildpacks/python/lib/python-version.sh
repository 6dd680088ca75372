# Sourced by bin/compile: which Python the app asks for, and which this build can give it.
#
# As Heroku's Python buildpack: runtime.txt (`python-3.12.4`, deprecated) wins over .python-version (`3.13`
# or `3.13.1`, comments and blank lines ignored); without either, the newest Python available. A request
# names a major.minor (a patch is honoured only as far as the machine has that series): the build uses a
# `pythonX.Y` found on PATH (the stack image's on Docker, the machine's on the process runtime), or one uv
# has installed, and fails naming the versions there are otherwise.

# requested_python BUILD_DIR: sets REQUESTED (3.13 or 3.13.1) and ORIGIN (the file), or fails with the
# error printed; both empty without a request.
requested_python() {
  local build_dir=$1 contents
  REQUESTED="" ORIGIN=""
  if [[ -f $build_dir/runtime.txt ]]; then
    ORIGIN=runtime.txt
    contents=$(tr -d '[:space:]' <"$build_dir/runtime.txt")
    if [[ $contents =~ ^python-([0-9]+\.[0-9]+(\.[0-9]+)?)$ ]]; then
      REQUESTED=${BASH_REMATCH[1]}
      return 0
    fi
    python_error "Invalid Python version in runtime.txt." \
      "" \
      "The Python version specified in your runtime.txt file isn't" \
      "in the correct format. runtime.txt contains: '$contents'" \
      "" \
      "Write it as python-3.13 (or python-3.13.1), or better: delete runtime.txt" \
      "and write the version in a .python-version file instead, e.g. 3.13"
    return 1
  fi
  if [[ -f $build_dir/.python-version ]]; then
    ORIGIN=.python-version
    local -a lines=()
    mapfile -t lines < <(sed -e 's/#.*//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' \
      "$build_dir/.python-version" | grep -v '^$')
    if ((${#lines[@]} == 0)); then
      python_error "Invalid Python version in .python-version." "" \
        "No Python version was found in your .python-version file." "" \
        "Update the file so that it contains a Python version like '3.13'."
      return 1
    fi
    if ((${#lines[@]} > 1)); then
      python_error "Invalid Python version in .python-version." "" \
        "Multiple Python versions were found in your .python-version file:" "" "${lines[@]}" "" \
        "Update the file so that it contains only one Python version."
      return 1
    fi
    if [[ ${lines[0]} =~ ^([0-9]+\.[0-9]+(\.[0-9]+)?)$ ]]; then
      REQUESTED=${BASH_REMATCH[1]}
      return 0
    fi
    python_error "Invalid Python version in .python-version." "" \
      "The Python version specified in your .python-version file" \
      "isn't in the correct format: '${lines[0]}'" "" \
      "The version must be written as a major.minor version, e.g. 3.13"
    return 1
  fi
}

# python_error LINE...: Heroku's error box, ` !     ` before each line.
python_error() {
  echo
  echo " !     Error: $1"
  shift
  local line
  for line in "$@"; do
    if [[ -n $line ]]; then echo " !     $line"; else echo " !"; fi
  done
  echo
}

# available_pythons: one `X.Y X.Y.Z /real/path/to/python` line per series found, newest first. PATH's
# pythonX.Y that actually run (a pyenv shim for a version not selected does not), resolved to the real
# interpreter (a shim in the slug would follow whatever pyenv selects later); then uv's installed ones.
available_pythons() {
  local -A seen=()
  local dir candidate found series
  local IFS=:
  local -a dirs=()
  read -r -a dirs <<<"$PATH"
  unset IFS
  {
    # from /, not the build dir: pyenv's shims read a .python-version in the working directory, so the
    # app's own request would make a pyenv-installed python3.7 "available" that the machine does not offer
    cd / || return
    for dir in "${dirs[@]}"; do
      [[ -d $dir ]] || continue
      for candidate in "$dir"/python3.[0-9]*; do
        [[ $candidate =~ /python3\.[0-9]+$ && -x $candidate ]] || continue
        series=${candidate##*/python}
        [[ -z ${seen[$series]:-} ]] || continue
        if found=$(probe_python "$candidate") && [[ ${found%% *} == "$series" ]]; then
          seen[$series]=1
          echo "$found"
        fi
      done
    done
    if command -v uv >/dev/null 2>&1; then
      while read -r candidate; do
        [[ -n $candidate ]] || continue
        if found=$(probe_python "$candidate"); then
          series=${found%% *}
          [[ -z ${seen[$series]:-} ]] || continue
          seen[$series]=1
          echo "$found"
        fi
      done < <(uv python list --only-installed 2>/dev/null | awk '$NF ~ /^\// {print $NF}')
    fi
  } | sort -t. -k1,1nr -k2,2nr
}

# probe_python PATH: `X.Y X.Y.Z /real/executable` of a Python that runs, else fails.
probe_python() {
  "$1" -I -c 'import os, sys, platform
v = sys.version_info
print(f"{v.major}.{v.minor} {platform.python_version()} {os.path.realpath(sys.executable)}")' 2>/dev/null
}
