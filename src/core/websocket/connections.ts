/**
 * @module The open WebSocket connections of one gateway: the cap on how many (a place is taken
 * before the upstream is dialled), their metrics, and what ends them all at once — a revocation
 * that covers their token, and shutdown.
 */
import { type GatewayError, TokenError, UnavailableError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import type { RevocationList } from '../revocation/list.ts'
import {
  CLOSE_CAUSES,
  type CloseCause,
  type ConnectionToken,
  type Relay,
  type RelayCounters,
} from './relay.ts'

/** The open connections of one gateway (`Gateway` keeps one across reloads). */
export class Connections {
  readonly #open = new Set<Relay>()
  /** Ended by the gateway, their client's end not yet closed (Relay.closing): still counted. */
  readonly #closing = new Set<Relay>()
  #reserved = 0
  #shuttingDown = false
  readonly #metrics: Metrics
  readonly #revocations: RevocationList | undefined
  /** The per-message counters every relay moves. */
  readonly counters: RelayCounters

  constructor(metrics: Metrics, revocations: RevocationList | undefined) {
    this.#metrics = metrics
    this.#revocations = revocations
    this.counters = {
      messagesIn: metrics.websocketMessages.cell(['in']),
      messagesOut: metrics.websocketMessages.cell(['out']),
      bytesIn: metrics.websocketBytes.cell(['in']),
      bytesOut: metrics.websocketBytes.cell(['out']),
    }
    // Every reason at zero from the start: a dashboard's rate() sees the first close.
    for (const cause of CLOSE_CAUSES) metrics.websocketCloses.cell([cause])
  }

  /**
   * Connections open, being opened, or closing: a connection the gateway ended keeps its place
   * until the client's end has closed — a client that reads nothing holds its runtime's buffers
   * meanwhile, and would otherwise open, stall and be cut again past the cap.
   */
  get size(): number {
    return this.#open.size + this.#closing.size + this.#reserved
  }

  /** Takes a place for a connection being opened; false when `max` are taken. */
  reserve(max: number): boolean {
    if (this.size >= max) return false
    this.#reserved++
    this.#metrics.websocketsOpen.value = this.size
    return true
  }

  /**
   * Why a connection whose upstream has just been dialled must not open after all: shutdown has
   * begun, or a revocation arrived meanwhile that covers its token (its own checks ran before).
   */
  refusal(token: ConnectionToken | undefined): GatewayError | undefined {
    if (this.#shuttingDown) {
      return new UnavailableError('The gateway is shutting down; retry later.', 1, 'shutting_down')
    }
    const list = this.#revocations
    if (token !== undefined && list !== undefined && list.revoked(token.claims, token.hash)) {
      return new TokenError('token_revoked', 'The token has been revoked.')
    }
    return undefined
  }

  /** Gives back a place reserve() took, when the connection did not open. */
  release(): void {
    this.#reserved--
    this.#metrics.websocketsOpen.value = this.size
  }

  /** A reserved place is now this open connection. */
  add(relay: Relay): void {
    this.#reserved--
    this.#open.add(relay)
    if (relay.done) this.ended(relay)
  }

  /**
   * A connection has ended: out of the open set (into the closing one while its client's end is
   * open), into the counters (the relay's `onEnd`).
   */
  ended(relay: Relay): void {
    if (!this.#open.delete(relay)) return
    if (relay.closing) this.#closing.add(relay)
    this.#metrics.websocketsOpen.value = this.size
    this.#metrics.websocketCloses.inc([relay.record.cause as CloseCause])
  }

  /** The client's end of a connection the gateway ended has closed: its place is free. */
  clientClosed(relay: Relay): void {
    if (this.#closing.delete(relay)) this.#metrics.websocketsOpen.value = this.size
  }

  /** Closes every connection whose token `list` now revokes. */
  revoked(list: RevocationList): void {
    for (const relay of [...this.#open]) {
      const token = relay.token
      if (token !== undefined && list.revoked(token.claims, token.hash) !== undefined) {
        relay.revoke()
      }
    }
  }

  /** Closes every connection (1001), and opens no more: the gateway is shutting down. */
  shutdown(): void {
    this.#shuttingDown = true
    for (const relay of [...this.#open]) relay.shutdown()
  }
}
