import { IceAgent, type IceAgentOptions, type IceState } from '../../lib/ice/agent.js';

/** Two agents on 127.0.0.1 that know each other's credentials and candidates. */
export async function makePair(a: Partial<IceAgentOptions> = {}, b: Partial<IceAgentOptions> = {}, components = 1): Promise<[IceAgent, IceAgent]> {
  const left = new IceAgent({ role: 'controlling', components, addresses: ['127.0.0.1'], taMs: 5, nominationWaitMs: 50, ...a });
  const right = new IceAgent({ role: 'controlled', components, addresses: ['127.0.0.1'], taMs: 5, nominationWaitMs: 50, ...b });
  const [lc, rc] = await Promise.all([left.gather(), right.gather()]);
  left.setRemoteCredentials(right.localUfrag, right.localPwd);
  right.setRemoteCredentials(left.localUfrag, left.localPwd);
  for (const c of rc) left.addRemoteCandidate(c);
  for (const c of lc) right.addRemoteCandidate(c);
  return [left, right];
}

/** Resolves when the agent reaches one of `states` (or is already there); rejects after `ms`. */
export function waitForState(agent: IceAgent, states: IceState[], ms = 5000): Promise<IceState> {
  if (states.includes(agent.state)) return Promise.resolve(agent.state);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent stayed ${agent.state}, wanted ${states.join('|')}`)), ms);
    const on = (s: IceState) => {
      if (!states.includes(s)) return;
      clearTimeout(timer);
      agent.off('state', on);
      resolve(s);
    };
    agent.on('state', on);
  });
}

export function waitFor(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (cond()) return resolve();
      if (Date.now() - start > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 5);
    };
    poll();
  });
}

/** A minimal RTP-looking datagram (first byte 0x80) carrying `text`. */
export function rtp(text: string): Buffer {
  return Buffer.concat([Buffer.from([0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]), Buffer.from(text)]);
}
