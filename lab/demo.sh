#!/usr/bin/env bash
# The newcomer's demo, run INSIDE the lab guest by tests/lab/test_demo.py (via scripts/demo.sh):
# two emulated VFs (veth, Neutron-style MACs) cabled to a switch namespace with a gateway,
# vfbondd builds bond0 from a config naming the VFs by MAC, then we fail over and watch.
# Only the switch namespace's own gateway (192.0.2.1) is ever sent traffic.
set -euo pipefail
DIR="$(mktemp -d /tmp/vfbond-demo.XXXXXX)"
SOCK="$DIR/ctl.sock"
say() { printf '\n\033[1m### %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

say "1. The VM's two SR-IOV VFs, as the guest sees them (names differ per image; MACs come from Neutron)"
show ip -br link show vf0
show ip -br link show vf1

say "2. The day0 config: slaves by MAC, fail_over_mac=active, the seed's miimon=1000"
cat > "$DIR/vfbond.yaml" <<YAML
bond:
  name: bond0
  slaves:
    - {label: sriov0, mac: "fa:16:3e:00:00:01"}
    - {label: sriov1, mac: "fa:16:3e:00:00:02"}
  miimon: 1000
  fail_over_mac: active
  primary: sriov0
  primary_reselect: failure
  ipv4: {addresses: [192.0.2.10/24], gateway: 192.0.2.1}
  ipv6: {addresses: ["2001:db8::10/64"], gateway: "2001:db8::1"}
backend: netlink
daemon: {socket: $SOCK, state_dir: $DIR/state}
YAML
cat "$DIR/vfbond.yaml"
show bondctl check-config -c "$DIR/vfbond.yaml"

say "3. Start vfbondd: it builds bond0 and supervises it"
vfbondd -c "$DIR/vfbond.yaml" > "$DIR/vfbondd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null' EXIT
for _ in $(seq 120); do bondctl status --socket "$SOCK" >/dev/null 2>&1 && break; sleep 1; done
show bondctl status --socket "$SOCK"
show ping -c 2 -W 1 192.0.2.1

say "4. simulate-failover: switch to the backup on purpose, prove the gateway answers through it, switch back"
show bondctl simulate-failover --restore --socket "$SOCK"

say "5. A real failure: the switch port of the active VF goes down (PF link loss)"
show ip -n sw link set sw0 down
sleep 1
show bondctl status --socket "$SOCK"
show ping -c 2 -W 1 192.0.2.1

say "6. The port comes back; primary_reselect=failure keeps traffic on vf1 (no needless flap)"
show ip -n sw link set sw0 up
sleep 2
show bondctl health --socket "$SOCK"

say "7. What vfbondd recorded (persisted; also sent to journald, syslog and SNMP when configured)"
show bondctl events --socket "$SOCK"
echo
echo "demo done: vfbondd log in $DIR/vfbondd.log"
