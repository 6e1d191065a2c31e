#!/bin/sh
# Installs the Debian 12 packages that the interop and lab tests run against
# (baresip, SIPp, coturn, iproute2, iptables, tinyproxy, kamailio with its TLS module, openssl,
# tcpdump, sipvicious).
#
# Run by `make test` as root on a fresh machine. Idempotent:
#   - when every needed binary (and baresip module) is present it does nothing;
#   - when not root it prints one notice and exits 0 (the tests then skip with a reason);
#   - otherwise it runs `apt-get update` and installs only the packages whose files are missing.
# Service start-up during installation is blocked with a temporary /usr/sbin/policy-rc.d, so the
# packages' daemons (kamailio on 5060, tinyproxy on 8888, coturn on 3478) never hold test ports.
#
# INSTALL_DEPS_DRY_RUN=1 prints what would be installed and changes nothing.
set -eu

PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

say() { printf 'install-deps: %s\n' "$*"; }

# "command package" pairs for the packages the tests require.
REQUIRED='baresip:baresip-core sipp:sip-tester turnserver:coturn ip:iproute2 iptables:iptables tinyproxy:tinyproxy openssl:openssl tcpdump:tcpdump svmap:sipvicious'
# Installed when the package repositories offer it (Debian 12 main does: kamailio 5.6).
OPTIONAL='kamailio:kamailio /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so:kamailio-tls-modules'
BARESIP_MODULE_DIR=/usr/lib/baresip/modules
BARESIP_MODULES='ice g711 ausine aubridge sndfile account menu stun turn'

# Prints the packages (one per line) of the given "command:package" pairs whose command (or, for
# an absolute path, file) is absent.
missing_packages() {
  for pair in $1; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    case $cmd in
      /*) [ -e "$cmd" ] || echo "$pkg" ;; # a file the package installs (a module, not a command)
      *) command -v "$cmd" >/dev/null 2>&1 || echo "$pkg" ;;
    esac
  done
}

# The baresip binary alone is not enough: the tests load these modules (all in baresip-core).
baresip_modules_missing() {
  for mod in $BARESIP_MODULES; do
    [ -f "$BARESIP_MODULE_DIR/$mod.so" ] || return 0
  done
  return 1
}

# True when apt knows an installation candidate for the package (needs package lists).
apt_has_candidate() {
  candidate=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
  [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

apt_lists_present() {
  ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1
}

required=$(missing_packages "$REQUIRED")
if baresip_modules_missing; then
  case " $required " in *" baresip-core "*) ;; *) required="$required baresip-core" ;; esac
fi
optional=$(missing_packages "$OPTIONAL")

# Optional packages the current lists say are unavailable do not force the slow path.
optional_wanted=''
for pkg in $optional; do
  if ! apt_lists_present || apt_has_candidate "$pkg"; then
    optional_wanted="$optional_wanted $pkg"
  fi
done

required=$(echo $required)
optional_wanted=$(echo $optional_wanted)
wanted=$(echo $required $optional_wanted)

if [ -z "$required" ] && [ -z "$optional_wanted" ]; then
  exit 0 # fast path: everything is present
fi

if [ "$(id -u)" != 0 ]; then
  say "not root, so not installing $wanted (tests that need them will skip)"
  exit 0
fi

if [ "${INSTALL_DEPS_DRY_RUN:-}" = 1 ]; then
  say "dry run: would run apt-get update and install: $wanted"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive

say "apt-get update"
apt-get update -q >/dev/null

install_list="$required"
for pkg in $optional_wanted; do
  if apt_has_candidate "$pkg"; then
    install_list="$install_list $pkg"
  else
    say "optional package $pkg is not in the configured repositories: skipping it"
  fi
done
install_list=$(echo $install_list)

if [ -z "$install_list" ]; then
  say "nothing installable is missing"
  exit 0
fi

# Keep maintainer scripts from starting daemons (invoke-rc.d and deb-systemd-invoke honour this).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM

say "installing: $install_list"
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $install_list

still=$(missing_packages "$REQUIRED")
if baresip_modules_missing; then still="$still baresip-core"; fi
still=$(echo $still)
if [ -n "$still" ]; then
  say "still missing after installation: $still"
  exit 1
fi
say "done"
