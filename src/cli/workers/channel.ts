/**
 * @module The messages between the primary and its workers: one JSON object per line, over the
 * worker's standard input (primary → worker) and standard error (worker → primary, where a mark
 * tells messages from whatever else the worker writes there). Requests carry an id; the answer
 * comes back as `{ t: 'reply', id, … }`.
 */

/** A message: its type `t`, and its fields. */
export interface Message {
  readonly t: string
  readonly id?: number
  readonly [field: string]: unknown
}

/** What starts a message line on a worker's standard error. */
const MARK = '\u001ejwtgate '

/** The peer went away (its process ended, or the pipe closed) before it answered. */
export class ChannelClosed extends Error {
  override readonly name = 'ChannelClosed'
}

interface Pending {
  resolve(message: Message): void
  reject(error: Error): void
  timer: ReturnType<typeof setTimeout>
}

/** One end of the line protocol: `send`, `request` (with a deadline), and the handler of what arrives. */
export class Channel {
  #next = 1
  #closed = false
  readonly #pending = new Map<number, Pending>()

  constructor(
    /** Writes one line (without its newline). */
    readonly write: (line: string) => void,
    /** Called with every message that is not a reply; `reply` answers a request. */
    readonly onMessage: (message: Message, reply: (fields: object) => void) => void,
  ) {}

  /** Sends a message that expects no answer; false when the channel is closed. */
  send(message: Message): boolean {
    if (this.#closed) return false
    try {
      this.write(MARK + JSON.stringify(message))
      return true
    } catch {
      return false
    }
  }

  /** Sends a request and resolves with its reply; rejects after `timeoutMs` or when the channel closes. */
  request(message: Message, timeoutMs: number): Promise<Message> {
    if (this.#closed) return Promise.reject(new ChannelClosed('the channel is closed'))
    const id = this.#next++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`no reply to ${message.t} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, { resolve, reject, timer })
      if (!this.send({ ...message, id })) {
        clearTimeout(timer)
        this.#pending.delete(id)
        reject(new ChannelClosed('the channel is closed'))
      }
    })
  }

  /** Handles one line; false when it is not a message (the caller passes it on as text). */
  receive(line: string): boolean {
    if (!line.startsWith(MARK)) return false
    let message: Message
    try {
      message = JSON.parse(line.slice(MARK.length)) as Message
    } catch {
      return false
    }
    if (message.t === 'reply' && typeof message.id === 'number') {
      const pending = this.#pending.get(message.id)
      if (pending !== undefined) {
        this.#pending.delete(message.id)
        clearTimeout(pending.timer)
        pending.resolve(message)
      }
      return true
    }
    const id = message.id
    this.onMessage(
      message,
      (fields) => void (id !== undefined && this.send({ ...fields, t: 'reply', id })),
    )
    return true
  }

  /** The peer is gone: every request still waiting is rejected. */
  close(): void {
    this.#closed = true
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer)
      pending.reject(new ChannelClosed('the peer went away'))
    }
    this.#pending.clear()
  }

  get closed(): boolean {
    return this.#closed
  }
}

/**
 * The longest line read (characters): a message is a configuration file, a revocation, a
 * `/metrics` text — far less; a longer one is no message, and is dropped rather than held.
 */
export const MAX_LINE = 16 * 1024 * 1024

/**
 * Calls `onLine` with each line of a byte stream (without its newline); resolves at its end. A
 * line longer than `maxLine` is dropped whole, never buffered past it.
 */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
  maxLine = MAX_LINE,
): Promise<void> {
  const decoder = new TextDecoder()
  let buffered = ''
  /** Inside a line over the cap: its rest is dropped up to its newline. */
  let dropping = false
  const deliver = (line: string) => {
    try {
      onLine(line)
    } catch {
      // A line that could not be handled (its echo to a broken stderr, say) is dropped; the
      // stream is still read, or the peer's messages would go unanswered.
    }
  }
  try {
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true })
      let newline = buffered.indexOf('\n')
      while (newline >= 0) {
        if (!dropping) deliver(buffered.slice(0, newline))
        dropping = false
        buffered = buffered.slice(newline + 1)
        newline = buffered.indexOf('\n')
      }
      if (buffered.length > maxLine) {
        buffered = ''
        dropping = true
      }
    }
  } catch {
    // The pipe broke: the same as its end.
  }
  buffered += decoder.decode()
  if (buffered !== '' && !dropping && buffered.length <= maxLine) deliver(buffered)
}
