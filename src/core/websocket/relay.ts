/**
 * @module One proxied WebSocket connection: the client's end (the runtime's server socket, handed
 * over by the adapter through `ClientEvents`) joined to the upstream's (a web-standard WebSocket
 * client), with the gateway's rules in between — the message size cap (1009), the bound on bytes
 * waiting for a slow receiver (1013), the token's expiry and revocation (1008) — and the record of
 * what went through, for the connection's access-log line and metrics.
 */
import type { Claims } from '../auth/claims.ts'
import type { TokenHashes } from '../revocation/entry.ts'
import type { CounterCell } from '../metrics.ts'

/** A message as the runtimes deliver it: text, or bytes. */
export type Message = string | ArrayBuffer | Uint8Array<ArrayBuffer>

/** The client's end of an upgraded connection, as the runtime's server gives it to the adapter. */
export interface ClientSocket {
  /** Sends a message (queued when the connection is busy). */
  send(data: Message): void
  /** Sends a close frame with `code` and `reason`. */
  close(code: number, reason: string): void
  /** Bytes queued toward the client and not yet written to its connection. */
  readonly bufferedAmount: number
  /** Stops reading the client's connection (Bun's ServerWebSocket can; Deno's socket cannot). */
  pause?(): void
  /** Reads the client's connection again. */
  resume?(): void
}

/**
 * What the runtime's server reports of the client's end of an upgraded connection: the adapter
 * calls these (Bun's `websocket` handlers, Deno's socket events).
 */
export interface ClientEvents {
  /** The upgrade is done: messages may flow. */
  opened(socket: ClientSocket): void
  /** The client sent a message. */
  message(data: Message): void
  /** The client's connection closed (1005: no code; 1006: dropped without a close frame). */
  closed(code: number, reason: string): void
  /** What waited for the client has been written (Bun's `drain`; Deno reports none). */
  drained?(): void
}

/** Why a connection ended, as `jwtgate_websocket_closes_total{reason}` and the log's `close`. */
export type CloseCause =
  | 'client'
  | 'upstream'
  | 'client_lost'
  | 'upstream_lost'
  | 'expired'
  | 'revoked'
  | 'too_big'
  | 'slow_receiver'
  | 'shutdown'

/** Every CloseCause (the record makes the compiler check that none is missing). */
const CAUSES: Record<CloseCause, true> = {
  client: true,
  upstream: true,
  client_lost: true,
  upstream_lost: true,
  expired: true,
  revoked: true,
  too_big: true,
  slow_receiver: true,
  shutdown: true,
}
export const CLOSE_CAUSES = Object.keys(CAUSES) as readonly CloseCause[]

/** What went through one connection, filled in as it goes; `ended` resolves at its end. */
export interface ConnectionRecord {
  /** Messages from the client to the upstream. */
  messagesIn: number
  /** Their bytes (text as UTF-8). */
  bytesIn: number
  /** Messages from the upstream to the client. */
  messagesOut: number
  /** Their bytes (text as UTF-8). */
  bytesOut: number
  /** The close code the client was sent or sent itself. */
  closeCode: number | undefined
  /** Why the connection ended, once it has. */
  cause: CloseCause | undefined
  /**
   * The client's end opened: the runtime completed the upgrade. One that never did before the
   * relay gave it up (`client_lost`) received no 101: its line says 499.
   */
  opened: boolean
  /** Resolves when the connection has ended. */
  readonly ended: Promise<void>
}

/** The rules a relay applies (from the configuration), and the counters it moves. */
export interface RelayLimits {
  readonly maxMessageBytes: number
  readonly maxBufferedBytes: number
  /**
   * How long a sender may stay held while its receiver makes no progress: past it the connection
   * is closed (1013), as one whose receiver never reads (the idle timeout).
   */
  readonly maxHoldMs: number
  /** `jwtgate_websocket_messages_total` and `_bytes_total`, by direction (shared cells). */
  readonly counters: RelayCounters
}

/** The metric cells every relay of a gateway moves, per message. */
export interface RelayCounters {
  readonly messagesIn: CounterCell
  readonly messagesOut: CounterCell
  readonly bytesIn: CounterCell
  readonly bytesOut: CounterCell
}

/** The verified token a connection was opened with, for expiry and revocation. */
export interface ConnectionToken {
  readonly claims: Claims
  /** The token's `tokenHashes`, for revocations by token. */
  readonly hash: TokenHashes
  /** When the connection must close (`exp` + clock skew + grace), ms since the epoch. */
  readonly closesAt: number | undefined
}

/**
 * A side that can stop reading its connection: Bun's WebSocket client and ServerWebSocket, the
 * Deno adapter's SocketWebSocket. A slow receiver then holds the sender back through TCP instead
 * of the gateway buffering.
 */
export interface PausableSocket {
  pause(): unknown
  resume(): unknown
}

/** The longest wait between two checks of whether a held sender's receiver has caught up. */
const RESUME_CHECK_MS = 20

/** A sender held back for a slow receiver, and the timer that checks on it. */
interface Hold {
  readonly sender: PausableSocket
  timer: ReturnType<typeof setTimeout> | undefined
}

/** Close codes (RFC 6455 §7.4.1). */
const NORMAL = 1000
const GOING_AWAY = 1001
const NO_STATUS = 1005
const ABNORMAL = 1006
const POLICY = 1008
const TOO_BIG = 1009
const INTERNAL = 1011
const TLS_FAILED = 1015
const TRY_LATER = 1013

/** setTimeout's longest delay; a later expiry re-arms the timer. */
const MAX_TIMER_MS = 2_147_483_647

/**
 * How long an upgraded client may take to open its end: a client gone during the upgrade is
 * never reported by Deno (its socket stays CONNECTING), and would hold the upstream and its place.
 */
const OPEN_DEADLINE_MS = 10_000

/**
 * One connection through the gateway. Created once the upstream has accepted the handshake and
 * before the client's is answered: the upstream's first messages wait (within the buffer bound)
 * until the client's end is open.
 */
export class Relay implements ClientEvents {
  readonly record: ConnectionRecord
  readonly token: ConnectionToken | undefined
  #client: ClientSocket | undefined
  #waiting: Message[] | undefined = []
  #waitingBytes = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #openTimer: ReturnType<typeof setTimeout> | undefined
  /** The client's close, when the connection ended before its end was open. */
  #clientClose: { code: number; reason: string } | undefined
  /** While the upstream is held for a slow client: the timer that resumes it. */
  #upstreamHeld: Hold | undefined
  /** While the client is held for a slow upstream: the timer that resumes it. */
  #clientHeld: Hold | undefined
  #done = false
  /** The client's end is open: opened, and its close not yet reported. */
  #clientOpen = false
  #resolve!: () => void
  readonly #upstream: WebSocket
  readonly #limits: RelayLimits
  readonly #now: () => number
  readonly #onEnd: (relay: Relay) => void
  readonly #onClientClosed: ((relay: Relay) => void) | undefined

  /**
   * `onEnd` is told when the connection ends; `onClientClosed` when, after that, the client's end
   * the gateway closed has closed too (see `closing`).
   */
  constructor(
    upstream: WebSocket,
    limits: RelayLimits,
    token: ConnectionToken | undefined,
    now: () => number,
    onEnd: (relay: Relay) => void,
    onClientClosed?: (relay: Relay) => void,
  ) {
    this.#upstream = upstream
    this.#limits = limits
    this.token = token
    this.#now = now
    this.#onEnd = onEnd
    this.#onClientClosed = onClientClosed
    this.record = {
      messagesIn: 0,
      bytesIn: 0,
      messagesOut: 0,
      bytesOut: 0,
      closeCode: undefined,
      cause: undefined,
      opened: false,
      ended: new Promise((resolve) => (this.#resolve = resolve)),
    }
    upstream.binaryType = 'arraybuffer'
    // The relay is the listener (handleEvent): no closure per connection.
    upstream.addEventListener('message', this)
    upstream.addEventListener('close', this)
    this.#openTimer = setTimeout(() => this.#neverOpened(), OPEN_DEADLINE_MS)
    this.#arm()
  }

  #neverOpened(): void {
    this.#waiting = undefined
    this.end('client_lost', ABNORMAL, '', GOING_AWAY, 'client went away')
  }

  /** The upstream's events (EventListener object). */
  handleEvent(event: Event): void {
    if (event.type === 'message') this.fromUpstream((event as MessageEvent).data as Message)
    else if (event.type === 'close') {
      const close = event as CloseEvent
      this.upstreamClosed(close.code, close.reason)
    }
  }

  /** True once the connection has ended (both sides closed or being closed). */
  get done(): boolean {
    return this.#done
  }

  /**
   * Ended, and the client's end still open: the gateway's close has been sent and the client has
   * not closed. A client that reads nothing may never close, and its runtime keeps what waited
   * for it meanwhile (measured under Deno: the close stays queued behind the unsent bytes, the
   * connection open, for as long as the client reads nothing) — so such a connection still
   * counts against the cap (connections.ts).
   */
  get closing(): boolean {
    return this.#done && this.#clientOpen
  }

  /**
   * Bytes waiting for the client: in its runtime's buffer once its end is open, and before that
   * the upstream's messages kept here for it.
   */
  get bufferedAmount(): number {
    return this.#client === undefined ? this.#waitingBytes : this.#client.bufferedAmount
  }

  opened(socket: ClientSocket): void {
    clearTimeout(this.#openTimer)
    this.record.opened = true
    this.#client = socket
    this.#clientOpen = true
    const waiting = this.#waiting
    this.#waiting = undefined
    if (waiting !== undefined) { for (const data of waiting) socket.send(data) }
    // Ended before the client's end was open (the upstream sent and closed at once): what it
    // sent, then its close.
    const close = this.#clientClose
    if (close !== undefined) {
      socket.close(close.code, close.reason)
      return
    }
    // Opened after the relay gave it up (past OPEN_DEADLINE_MS): nothing is on the other side,
    // and no expiry, revocation or shutdown would reach it.
    if (this.#done) return void socket.close(GOING_AWAY, 'client went away')
    this.#checkBuffered(socket.bufferedAmount)
  }

  message(data: Message): void {
    if (this.#done) return
    const bytes = sizeOf(data)
    if (bytes > this.#limits.maxMessageBytes) {
      this.end('too_big', TOO_BIG, 'message too big', TOO_BIG, 'message too big')
      return
    }
    this.record.messagesIn++
    this.record.bytesIn += bytes
    const counters = this.#limits.counters
    counters.messagesIn.value++
    counters.bytesIn.value += bytes
    const upstream = this.#upstream
    upstream.send(data)
    const buffered = upstream.bufferedAmount
    if (buffered > this.#limits.maxBufferedBytes) {
      this.end('slow_receiver', TRY_LATER, 'upstream reads too slowly', TRY_LATER, 'too slow')
    } else if (buffered > this.#limits.maxBufferedBytes / 2 && this.#clientHeld === undefined) {
      this.#clientHeld = this.#hold(this.#client, upstream)
    }
  }

  closed(code: number, reason: string): void {
    const wasOpen = this.#clientOpen
    this.#clientOpen = false
    if (this.#done) {
      if (wasOpen) this.#onClientClosed?.(this)
      return
    }
    if (code === TOO_BIG) {
      // The runtime's server refused a message over its cap (the client was sent 1009).
      this.end('too_big', TOO_BIG, reason, TOO_BIG, 'message too big')
      return
    }
    const lost = code === ABNORMAL
    this.end(
      lost ? 'client_lost' : 'client',
      code,
      reason,
      lost ? GOING_AWAY : code === NO_STATUS ? NORMAL : code,
      lost ? 'client went away' : reason,
    )
  }

  /** The client caught up: a held upstream reads again at once (else its timer does it). */
  drained(): void {
    if (this.#done) return
    const held = this.#upstreamHeld
    const client = this.#client
    if (held === undefined || client === undefined) return
    if (client.bufferedAmount <= this.#limits.maxBufferedBytes / 8) this.#release(held)
  }

  /** A message from the upstream, for the client. */
  fromUpstream(data: Message): void {
    if (this.#done) return
    const bytes = sizeOf(data)
    if (bytes > this.#limits.maxMessageBytes) {
      this.end('too_big', TOO_BIG, 'message too big', TOO_BIG, 'message too big')
      return
    }
    this.record.messagesOut++
    this.record.bytesOut += bytes
    const counters = this.#limits.counters
    counters.messagesOut.value++
    counters.bytesOut.value += bytes
    const client = this.#client
    if (client === undefined) {
      this.#waiting!.push(data)
      this.#waitingBytes += bytes
      this.#checkBuffered(this.#waitingBytes)
      return
    }
    try {
      client.send(data)
    } catch {
      // A client end that takes nothing more (some Deno versions throw once its close has
      // begun): the connection ends here, the client's end taken as gone. Thrown on, the
      // exception would leave the upstream's event listener — under Deno an uncaught error, which
      // ends the process.
      this.#clientOpen = false
      this.end('client_lost', ABNORMAL, '', GOING_AWAY, 'client went away')
      return
    }
    this.#checkBuffered(client.bufferedAmount)
  }

  /**
   * Stops `sender` reading (when it can) while `receiver` has more than half the bound waiting,
   * and lets it read again once the receiver is down to an eighth: checked after 1 ms, then at
   * doubling intervals up to RESUME_CHECK_MS (a receiver that was only briefly behind resumes at
   * once; a slow one costs a check every 20 ms). Bun's `drain` resumes a held upstream sooner.
   */
  #hold(
    sender: Partial<PausableSocket> | undefined,
    receiver: { readonly bufferedAmount: number },
  ): Hold | undefined {
    if (sender?.pause === undefined) return undefined
    sender.pause()
    const low = this.#limits.maxBufferedBytes / 8
    const hold: Hold = { sender: sender as PausableSocket, timer: undefined }
    let wait = 1
    let least = receiver.bufferedAmount
    let progressAt = this.#now()
    const check = () => {
      const buffered = receiver.bufferedAmount
      if (buffered <= low) return this.#release(hold)
      // A receiver that takes nothing for the idle timeout is not slow but stalled: cut.
      if (buffered < least) {
        least = buffered
        progressAt = this.#now()
      } else if (this.#now() - progressAt > this.#limits.maxHoldMs) {
        return this.end('slow_receiver', TRY_LATER, 'stalled', TRY_LATER, 'stalled')
      }
      wait = Math.min(wait * 2, RESUME_CHECK_MS)
      hold.timer = setTimeout(check, wait)
    }
    hold.timer = setTimeout(check, wait)
    return hold
  }

  /** Lets a held sender read again. */
  #release(hold: Hold): void {
    clearTimeout(hold.timer)
    if (this.#upstreamHeld === hold) this.#upstreamHeld = undefined
    if (this.#clientHeld === hold) this.#clientHeld = undefined
    hold.sender.resume()
  }

  /** The upstream closed its end (1006: its connection dropped without a close frame). */
  upstreamClosed(code: number, reason: string): void {
    if (this.#done) return
    if (code === TOO_BIG) {
      // The upstream's message was over the cap (the gateway's client refused it), or the
      // upstream itself refused one of the client's.
      this.end('too_big', TOO_BIG, 'message too big', TOO_BIG, reason)
      return
    }
    const lost = code === ABNORMAL || code === TLS_FAILED
    this.end(
      lost ? 'upstream_lost' : 'upstream',
      lost ? INTERNAL : code === NO_STATUS ? NORMAL : code,
      lost ? 'upstream connection lost' : reason,
      code,
      reason,
    )
  }

  /**
   * Ends the connection: the client is sent `clientCode`, the upstream `upstreamCode` (each
   * unless it closed itself), and the record is complete.
   */
  end(
    cause: CloseCause,
    clientCode: number,
    clientReason: string,
    upstreamCode: number,
    upstreamReason: string,
  ): void {
    if (this.#done) return
    this.#done = true
    clearTimeout(this.#timer)
    // Held sides read again: a closing handshake needs the peer's answer read.
    if (this.#upstreamHeld !== undefined) this.#release(this.#upstreamHeld)
    if (this.#clientHeld !== undefined) this.#release(this.#clientHeld)
    this.record.cause = cause
    this.record.closeCode = clientCode
    if (cause !== 'client' && cause !== 'client_lost') {
      if (this.#client !== undefined) this.#client.close(clientCode, clientReason)
      // Not open yet: opened() sends what waits (within its bound), then this close.
      else this.#clientClose = { code: clientCode, reason: clientReason }
    } else {
      clearTimeout(this.#openTimer)
      this.#waiting = undefined
    }
    if (cause !== 'upstream' && cause !== 'upstream_lost') {
      closeUpstream(this.#upstream, upstreamCode, upstreamReason)
    }
    this.#onEnd(this)
    this.#resolve()
  }

  /** Closes the connection because its token has been revoked. */
  revoke(): void {
    this.end('revoked', POLICY, 'token revoked', POLICY, 'token revoked')
  }

  /** Closes the connection because the gateway is shutting down. */
  shutdown(): void {
    this.end('shutdown', GOING_AWAY, 'gateway shutting down', GOING_AWAY, 'gateway shutting down')
  }

  #arm(): void {
    const at = this.token?.closesAt
    if (at === undefined) return
    const wait = at - this.#now()
    if (wait <= 0) {
      this.end('expired', POLICY, 'token expired', POLICY, 'token expired')
      return
    }
    this.#timer = setTimeout(() => this.#arm(), Math.min(wait, MAX_TIMER_MS))
  }

  /**
   * Bytes waiting for the client: past half the bound the upstream is held, past it cut. Also
   * before the client's end is open: an upstream that sends at once (a feed, a replay) would
   * otherwise fill the bound with what it sends while the runtime opens the client's end.
   */
  #checkBuffered(buffered: number): void {
    if (buffered > this.#limits.maxBufferedBytes) {
      this.#waiting = undefined
      this.end('slow_receiver', TRY_LATER, 'client reads too slowly', TRY_LATER, 'too slow')
    } else if (buffered > this.#limits.maxBufferedBytes / 2 && this.#upstreamHeld === undefined) {
      this.#upstreamHeld = this.#hold(this.#upstream as unknown as Partial<PausableSocket>, this)
    }
  }
}

/**
 * Closes the upstream's end with `code`. A web-standard client may only send 1000 or 3000–4999
 * (Deno's enforces it; Bun's sends any): another code goes as 1000 with its reason.
 */
function closeUpstream(upstream: WebSocket, code: number, reason: string): void {
  try {
    upstream.close(code, reason)
  } catch {
    try {
      upstream.close(NORMAL, reason)
    } catch {
      // already closing
    }
  }
}

/** A message's size in bytes (text as UTF-8). */
export function sizeOf(data: Message): number {
  return typeof data === 'string' ? utf8Length(data) : data.byteLength
}

/** The UTF-8 length of `text`, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) bytes += 1
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair: 4 bytes for its two code units.
      bytes += 2
      i++
    } else bytes += 2
  }
  return bytes
}
