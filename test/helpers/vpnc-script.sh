#!/bin/bash
# openconnect --script for the test harness (test/helpers/netns.ts).
#
# Unlike Debian's vpnc-script this never touches DNS, /etc/resolv.conf or the
# default route: it runs inside a throw-away client network namespace and only
# configures the tun (address, MTU, up) and the routes the server pushed, so a
# test can never leak traffic or settings to the host.
#
# Env in:  everything openconnect exports (reason, TUNDEV, INTERNAL_IP4_*,
#          INTERNAL_IP6_*, CISCO_*, CISCO_IPV6_*),
#          OCS_TEST_ROUTE  network (a.b.c.d/len) routed into the tun when the
#                          server pushed no split-include route,
#          OCS_TEST_ROUTE6 the same for IPv6 (x:y::/len), when the server pushed
#                          no IPv6 split-include route but an IPv6 address,
#          OCS_TEST_STATE  file that receives a JSON object with what the server
#                          pushed; written atomically after the tun is configured,
#                          so its appearance means "tunnel up".
set -u

json_str() {
	# JSON string escaping in pure bash; banners may hold quotes and newlines.
	local s=${1-}
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	s=${s//$'\t'/\\t}
	printf '"%s"' "$s"
}

write_state() {
	[ -n "${OCS_TEST_STATE-}" ] || return 0
	local out="{" sep="" k i routes="" rsep=""
	for k in reason TUNDEV VPNGATEWAY INTERNAL_IP4_ADDRESS INTERNAL_IP4_NETMASK \
		INTERNAL_IP4_MTU INTERNAL_IP4_DNS CISCO_DEF_DOMAIN CISCO_BANNER \
		CISCO_SPLIT_INC CISCO_SPLIT_EXC CISCO_SPLIT_DNS INTERNAL_IP4_NBNS \
		INTERNAL_IP6_ADDRESS INTERNAL_IP6_NETMASK CISCO_IPV6_SPLIT_INC CISCO_IPV6_SPLIT_EXC; do
		if [ -n "${!k+x}" ]; then
			out+="$sep\"$k\":$(json_str "${!k}")"
			sep=","
		fi
	done
	for ((i = 0; i < ${CISCO_SPLIT_INC:-0}; i++)); do
		local a="CISCO_SPLIT_INC_${i}_ADDR" m="CISCO_SPLIT_INC_${i}_MASKLEN"
		routes+="$rsep$(json_str "${!a-}/${!m-}")"
		rsep=","
	done
	out+="$sep\"routes\":[$routes]"
	out+=",\"routes6\":[$(split_list CISCO_IPV6_SPLIT_INC)]"
	out+=",\"excludes6\":[$(split_list CISCO_IPV6_SPLIT_EXC)]}"
	# Rename so a poller never reads a half-written file.
	printf '%s\n' "$out" >"$OCS_TEST_STATE.tmp.$$" && mv -f "$OCS_TEST_STATE.tmp.$$" "$OCS_TEST_STATE"
}

# JSON list of the addr/len of openconnect's numbered split variables ($1: the count's name)
split_list() {
	local i a m sep="" out=""
	for ((i = 0; i < ${!1:-0}; i++)); do
		a="${1}_${i}_ADDR" m="${1}_${i}_MASKLEN"
		out+="$sep$(json_str "${!a-}/${!m-}")"
		sep=","
	done
	printf '%s' "$out"
}

fail() {
	echo "vpnc-script.sh: $*" >&2
	exit 1
}

case "${reason-}" in
connect)
	[ -n "${TUNDEV-}" ] || fail "TUNDEV not set"
	ip link set dev "$TUNDEV" up mtu "${INTERNAL_IP4_MTU:-1300}" || fail "link up failed"
	if [ -n "${INTERNAL_IP4_ADDRESS-}" ]; then
		ip addr replace "$INTERNAL_IP4_ADDRESS/32" dev "$TUNDEV" || fail "addr failed"
	fi
	if [ "${CISCO_SPLIT_INC:-0}" -gt 0 ]; then
		for ((i = 0; i < CISCO_SPLIT_INC; i++)); do
			a="CISCO_SPLIT_INC_${i}_ADDR" m="CISCO_SPLIT_INC_${i}_MASKLEN"
			ip route replace "${!a}/${!m}" dev "$TUNDEV" || fail "route ${!a}/${!m} failed"
		done
	elif [ -n "${OCS_TEST_ROUTE-}" ]; then
		ip route replace "$OCS_TEST_ROUTE" dev "$TUNDEV" || fail "route $OCS_TEST_ROUTE failed"
	fi
	# IPv6: the address with the length of the client's network (X-CSTP-Address-IP6
	# gives INTERNAL_IP6_NETMASK = addr/len), then the IPv6 split-include routes
	if [ -n "${INTERNAL_IP6_ADDRESS-}${INTERNAL_IP6_NETMASK-}" ]; then
		a6=${INTERNAL_IP6_ADDRESS:-${INTERNAL_IP6_NETMASK%/*}}
		len6=128
		case "${INTERNAL_IP6_NETMASK-}" in */*) len6=${INTERNAL_IP6_NETMASK##*/} ;; esac
		ip -6 addr replace "$a6/$len6" dev "$TUNDEV" nodad || fail "IPv6 addr $a6/$len6 failed"
		if [ "${CISCO_IPV6_SPLIT_INC:-0}" -gt 0 ]; then
			for ((i = 0; i < CISCO_IPV6_SPLIT_INC; i++)); do
				a="CISCO_IPV6_SPLIT_INC_${i}_ADDR" m="CISCO_IPV6_SPLIT_INC_${i}_MASKLEN"
				ip -6 route replace "${!a}/${!m}" dev "$TUNDEV" || fail "route ${!a}/${!m} failed"
			done
		elif [ -n "${OCS_TEST_ROUTE6-}" ]; then
			ip -6 route replace "$OCS_TEST_ROUTE6" dev "$TUNDEV" || fail "route $OCS_TEST_ROUTE6 failed"
		fi
	fi
	write_state
	;;
*)
	# pre-init, disconnect, reconnect, attempt-reconnect: nothing to do; the
	# kernel drops the addresses and routes together with the tun.
	;;
esac
exit 0
