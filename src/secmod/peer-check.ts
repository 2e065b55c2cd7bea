/**
 * sec-mod believes what a worker says about its client only with main's MAC over it
 * (src/ipc/peer-proof.ts). main sends the key at each sec-mod start, before any worker
 * channel, and keeps it for its lifetime, so proofs survive a sec-mod restart.
 */
import { peerProven, type PeerProof } from '../ipc/peer-proof';

export class PeerCheck {
  private key?: Buffer;

  setKey(key: Uint8Array): void {
    this.key = Buffer.from(key);
  }

  /** The proof is main's, and it is about the address the worker claims. */
  proven(claim: { remoteAddr: string; proof: PeerProof }): boolean {
    return claim.proof.remoteAddr === claim.remoteAddr && peerProven(this.key, claim.proof);
  }
}
