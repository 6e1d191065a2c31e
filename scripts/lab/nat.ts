/**
 * NAT recipes: the iptables (nf_tables backend) rules that make a Linux network namespace behave
 * as a NAT with a given RFC 4787 mapping and filtering behaviour. Each recipe is a list of
 * `iptables` argument vectors, run inside the NAT's namespace by topology.ts; the STUN probe in
 * test/lab/nat-behaviour.test.ts checks each behaviour against coturn (RFC 5780 tests).
 *
 * How Linux behaves, and why these rules:
 * - Mapping. `SNAT --to-source PUBLIC` keeps the internal source port whenever the translated
 *   5-tuple is unique (nf_nat tries the original port first), and the uniqueness check is per
 *   destination: so one internal transport address gets the same public port towards every
 *   destination. That is endpoint-independent mapping (RFC 4787 §4.1) with port preservation,
 *   as long as no two internal hosts use the same port (our scenarios have one host per NAT
 *   wherever EIM matters). `--random-fully` picks a new random port for every new conntrack
 *   entry, i.e. for every new destination address or port: address-and-port-dependent mapping
 *   ("symmetric").
 * - Filtering. conntrack alone lets in only packets matching an existing entry's full 5-tuple:
 *   address-and-port-dependent filtering ("port-restricted"). Anything else reaches the NAT box
 *   itself (nothing listens; INPUT drops it). For endpoint-independent filtering ("full cone")
 *   a DNAT rule forwards every inbound UDP packet for the public address to the internal host,
 *   port unchanged: since the mapping preserves ports, PUBLIC:p leads back to HOST:p, which is
 *   exactly the endpoint-independent mapping's reverse. Linux has no stateful full-cone target
 *   in mainline (xt_FULLCONENAT is out of tree), so this "one-to-one" form needs a single
 *   internal host; topology.ts refuses anything else. Address-dependent filtering ("restricted
 *   cone") is the same DNAT, but FORWARD lets a new inbound flow through only when its source
 *   address is one the inside has sent to: the `recent` match records every outbound
 *   destination address (`--rdest --set`) and checks inbound source addresses (`--rsource --rcheck`).
 *   `recent` keys on addresses only, so the list is per NAT rather than per mapping: once any
 *   port of the inside host has sent to Y, Y may reach every mapping. RFC 4787 §5's definition is
 *   per mapping; no scenario relies on the difference (the probe tests it on fresh sockets).
 * - Hairpinning (RFC 4787 §6) is off: packets from the inside to the public address are dropped
 *   at INPUT, so a phone that tries its peer's server-reflexive address behind the same NAT fails,
 *   as the draft's enterprise cases assume.
 * - Port forwards (the enterprise DMZ: SIP proxy, TURN relay range) are DNAT rules from the
 *   public address, plus FORWARD acceptance of DNATed flows.
 */
import type { NatSpec } from './scenario.js';

export interface NatContext {
  /** Interface names inside the NAT namespace (the segment names). */
  inside: string;
  outside: string;
  /** The NAT's address on the outside segment. */
  publicAddress: string;
  /** Internal hosts on the inside segment (all members but the NAT itself). */
  insideHosts: string[];
  /** Name for the `recent` list (unique per NAT). */
  tag: string;
}

/** iptables argument vectors (without the leading `iptables`) for one NAT. @throws Error for an unsupported combination. */
export function natRules(nat: NatSpec, ctx: NatContext): string[][] {
  const { inside, outside, publicAddress: pub } = ctx;
  const rules: string[][] = [];
  const eif = nat.filtering !== 'address-and-port-dependent';
  if (nat.hairpin) throw new Error('hairpinning NATs are not implemented by the lab (no scenario needs one)');
  if (eif && nat.mapping !== 'endpoint-independent') {
    throw new Error(`${nat.filtering} filtering with ${nat.mapping} mapping is not a behaviour RFC 4787 NATs show; not supported`);
  }
  if (eif && ctx.insideHosts.length !== 1) {
    throw new Error(`${nat.filtering} filtering needs exactly one host inside (one-to-one DNAT), found ${ctx.insideHosts.length}`);
  }

  // Filter defaults: forward only what the NAT allows.
  rules.push(['-P', 'FORWARD', 'DROP']);
  rules.push(['-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
  if (nat.filtering === 'address-dependent') {
    rules.push(['-A', 'FORWARD', '-i', inside, '-o', outside, '-m', 'recent', '--name', ctx.tag, '--rdest', '--set', '-j', 'ACCEPT']);
  } else {
    rules.push(['-A', 'FORWARD', '-i', inside, '-o', outside, '-j', 'ACCEPT']);
  }
  // No hairpinning: inside to our own public address goes nowhere.
  rules.push(['-A', 'INPUT', '-i', inside, '-d', pub, '-j', 'DROP']);
  // Unsolicited inbound that no DNAT claimed: silently dropped (no ICMP), like a home router.
  rules.push(['-A', 'INPUT', '-i', outside, '-m', 'conntrack', '--ctstate', 'NEW,INVALID', '-j', 'DROP']);

  // Static (port-preserving) mapping for port-forwarded servers: what they send from a forwarded
  // port leaves from the same public port (a DMZ TURN server's relayed address is then the
  // address peers see, as draft §9.2 assumes).
  for (const fwd of nat.portForwards ?? []) {
    const to = forwardTarget(fwd);
    rules.push(['-t', 'nat', '-A', 'POSTROUTING', '-o', outside, '-s', to.address, '-p', fwd.protocol, '--sport', to.ports.replace('-', ':'), '-j', 'SNAT',
      '--to-source', to.translated ? `${pub}:${fwd.ports}` : pub]);
  }
  // Mapping.
  if (nat.mapping === 'endpoint-independent') {
    rules.push(['-t', 'nat', '-A', 'POSTROUTING', '-o', outside, '-j', 'SNAT', '--to-source', pub]);
  } else {
    for (const protocol of ['udp', 'tcp']) {
      rules.push(['-t', 'nat', '-A', 'POSTROUTING', '-o', outside, '-p', protocol, '-j', 'SNAT', '--to-source', `${pub}:1024-65535`, '--random-fully']);
    }
    rules.push(['-t', 'nat', '-A', 'POSTROUTING', '-o', outside, '-j', 'SNAT', '--to-source', pub]);
  }

  // Port forwards come before the one-to-one DNAT.
  for (const fwd of nat.portForwards ?? []) {
    const to = forwardTarget(fwd);
    rules.push(['-t', 'nat', '-A', 'PREROUTING', '-i', outside, '-d', pub, '-p', fwd.protocol, '--dport', fwd.ports.replace('-', ':'), '-j', 'DNAT', '--to-destination', fwd.to]);
    rules.push(['-A', 'FORWARD', '-i', outside, '-d', to.address, '-p', fwd.protocol, '--dport', to.ports.replace('-', ':'), '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT']);
  }

  // Filtering.
  if (eif) {
    const host = ctx.insideHosts[0]!;
    rules.push(['-t', 'nat', '-A', 'PREROUTING', '-i', outside, '-d', pub, '-p', 'udp', '-j', 'DNAT', '--to-destination', host]);
    if (nat.filtering === 'endpoint-independent') {
      rules.push(['-A', 'FORWARD', '-i', outside, '-o', inside, '-d', host, '-p', 'udp', '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT']);
    } else {
      // Address-dependent: only from addresses the inside has sent to (any port of theirs).
      rules.push(['-A', 'FORWARD', '-i', outside, '-o', inside, '-d', host, '-p', 'udp', '-m', 'conntrack', '--ctstate', 'DNAT',
        '-m', 'recent', '--name', ctx.tag, '--rsource', '--rcheck', '-j', 'ACCEPT']);
    }
  }
  // address-and-port-dependent: conntrack's ESTABLISHED rule above is all there is.
  return rules;
}

/**
 * A port forward's target: `to` is `IP` (same ports) or `IP:PORT` (one public port to another
 * inside port, e.g. the DMZ proxy's outside socket).
 */
function forwardTarget(fwd: { ports: string; to: string }): { address: string; ports: string; translated: boolean } {
  const [address, port] = fwd.to.split(':');
  if (port !== undefined && fwd.ports.includes('-')) throw new Error(`port forward ${fwd.ports} -> ${fwd.to}: translate single ports only`);
  return { address: address!, ports: port ?? fwd.ports, translated: port !== undefined };
}

/** Loss on a WAN segment: every packet arriving on `iface` is dropped with probability `p`. */
export function lossRule(iface: string, p: number): string[] {
  return ['-t', 'raw', '-A', 'PREROUTING', '-i', iface, '-m', 'statistic', '--mode', 'random', '--probability', String(p), '-j', 'DROP'];
}
