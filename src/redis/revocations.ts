/**
 * @module Revocations in Redis, mirrored in every process: a sorted set `<prefix>rv` holds each
 * entry (its JSON, scored by when it may be forgotten, in ms), and the channel `<prefix>rv`
 * announces each new one. A process subscribes, then loads the whole set (page by page) — at start and after
 * every reconnect of its subscription, since pub/sub does not keep what it could not deliver —
 * and adds what is announced meanwhile. The request path only reads the mirror
 * (core/revocation/list.ts); it never calls Redis.
 *
 * While the subscription is down the mirror is not confirmed (`list.confirmed`): gateways keep
 * serving from it, or refuse tokens in strict mode; logged once per change. A connection can also
 * die without closing (a network path that drops packets: TCP notices after minutes): every
 * second a heartbeat is published on a channel of this process's own, and one that has not come
 * back through the subscription within HEARTBEAT_TIMEOUT_MS makes the mirror unconfirmed and both
 * connections start again — their return syncs. The heartbeat also asks whether the set is still
 * there when the mirror holds entries: a FLUSHDB or an eviction (`maxmemory-policy allkeys-*`)
 * removes it without any reconnect, and it is then written back at once.
 *
 * A sync adds what Redis holds to the mirror and never takes out what Redis lacks (there is no
 * unrevoking: entries only expire). What the mirror holds and Redis lacks — a Redis without
 * persistence that restarted empty, a failover that lost writes — is written back, so a gateway
 * that starts afterwards still sees it.
 */
import type { Redis } from 'ioredis'
import type { Logger } from '../core/log.ts'
import { parseRevocation, type Revocation, revocationJson } from '../core/revocation/entry.ts'
import type { RevocationList } from '../core/revocation/list.ts'

/** Time between two attempts at a full sync that failed. */
const RESYNC_RETRY_MS = 500
/** Time between two heartbeats. */
const HEARTBEAT_MS = 1000
/** How long a heartbeat may take to come back through the subscription. */
const HEARTBEAT_TIMEOUT_MS = 2000
/**
 * Members read per call of a full sync: each call stays far within the client's per-command
 * deadline (50 ms by default), whatever the set's size (one read of 200,000 entries passed it).
 */
const SCAN_COUNT = 1000

/**
 * The members of the sorted set `key` scored `minScore` or more, page by page (ZSCAN: every
 * member present for the whole scan is returned, some maybe twice — adding one twice changes
 * nothing).
 */
async function* scanMembers(client: Redis, key: string, minScore: number): AsyncGenerator<string> {
  let cursor = '0'
  do {
    const [next, page] = await client.zscan(key, cursor, 'COUNT', SCAN_COUNT)
    for (let i = 0; i + 1 < page.length; i += 2) {
      if (Number(page[i + 1]) >= minScore) yield page[i]!
    }
    cursor = next
  } while (cursor !== '0')
}

/**
 * Drops the entries that are over, by Redis's clock (TIME), never a writer's: a `jwtgate revoke`
 * from a machine whose clock runs ahead would otherwise delete entries still in force for every
 * instance that starts later.
 */
const PRUNE = `local t = redis.call('TIME')
return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (t[1] * 1000 + math.floor(t[2] / 1000)))`

/** Stores a revocation in Redis and announces it (one transaction). */
export async function storeRevocation(
  client: Redis,
  prefix: string,
  entry: Revocation,
): Promise<void> {
  const key = `${prefix}rv`
  const json = JSON.stringify(revocationJson(entry))
  const replies = await client.multi()
    .eval(PRUNE, 1, key)
    .zadd(key, entry.until * 1000, json)
    .publish(key, json)
    .exec()
  const failed = replies?.find(([error]) => error !== null)
  if (replies === null || failed !== undefined) {
    throw failed?.[0] ?? new Error('the transaction was discarded')
  }
}

/**
 * Why `entry` cannot be stored by a writer that holds no list (`jwtgate revoke`): Redis holds
 * `maxEntries` revocations in force already, and `entry` is not one of them. The gateways would
 * log it as `revocations_full` and not put it in force; a gateway's own writes check their list
 * (RedisRevocations.revoke).
 */
export async function roomProblem(
  client: Redis,
  prefix: string,
  entry: Revocation,
  maxEntries: number,
): Promise<string | undefined> {
  const key = `${prefix}rv`
  await client.eval(PRUNE, 1, key)
  if (await client.zcard(key) < maxEntries) return undefined
  const stored = await client.zscore(key, JSON.stringify(revocationJson(entry)))
  return stored === null
    ? `the revocation list is full (${maxEntries} entries in force, revocations.maxEntries): not stored`
    : undefined
}

/** Keeps `list` in step with Redis through `subscriber` (its own connection) and `client`. */
export class RedisRevocations {
  #syncing = false
  #retry: ReturnType<typeof setTimeout> | undefined
  #closed = false
  #reportedDown = false
  /** Moves on every close and ready of the subscription (a sync spanning one is not trusted). */
  #generation = 0
  #again = false
  /** This process's heartbeat channel, and the heartbeat awaited on it. */
  readonly #beatChannel: string
  #beats = 0
  #awaited: string | undefined
  #beatSent = 0
  #heartbeat: ReturnType<typeof setInterval>
  #synced!: () => void
  /** Resolves at the first full sync. */
  readonly synced: Promise<void> = new Promise((resolve) => (this.#synced = resolve))

  constructor(
    readonly client: Redis,
    readonly subscriber: Redis,
    readonly list: RevocationList,
    readonly options: {
      readonly prefix: string
      readonly logger: Logger
      readonly now: () => number
      readonly maxLifetimeSec: number
    },
  ) {
    list.confirmed = false
    list.loaded = false
    const channel = `${options.prefix}rv`
    this.#beatChannel = `${options.prefix}rv:heartbeat:${crypto.randomUUID()}`
    subscriber.on('message', (from: string, message: string) => {
      if (from === channel) this.#announce(message)
      else if (from === this.#beatChannel && message === this.#awaited) this.#awaited = undefined
    })
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS)
    subscriber.on('ready', () => {
      this.#generation++
      void this.#subscribeAndSync(channel)
    })
    subscriber.on('close', () => {
      this.#generation++
      this.#lost()
    })
    if (subscriber.status === 'ready') void this.#subscribeAndSync(channel)
  }

  /** A full sync is under way (its reads are running). */
  get loading(): boolean {
    return this.#syncing
  }

  /** Stores `entry` in Redis for every process, and puts it in force here. */
  async revoke(entry: Revocation): Promise<void> {
    if (!this.list.hasRoomFor(entry, this.options.now())) {
      throw new Error(`the revocation list is full (${this.list.maxEntries} entries)`)
    }
    await storeRevocation(this.client, this.options.prefix, entry)
    this.#add(entry)
  }

  /** Stops the sync (the connections are the caller's to close). */
  close(): void {
    this.#closed = true
    clearTimeout(this.#retry)
    clearInterval(this.#heartbeat)
  }

  /**
   * One heartbeat, while the mirror is confirmed: the last one not back in time means a
   * connection died without closing; and a set gone while the mirror holds entries is written
   * back.
   */
  #beat(): void {
    if (this.#closed || !this.list.confirmed || this.#syncing) return
    if (this.#awaited !== undefined) {
      if (performance.now() - this.#beatSent < HEARTBEAT_TIMEOUT_MS) return
      this.#awaited = undefined
      this.#lost('no heartbeat came back from Redis within 2 s; connecting again')
      // Both start again (ioredis: disconnect, then reconnect at once); their return syncs.
      this.subscriber.disconnect(true)
      this.client.disconnect(true)
      return
    }
    const beat = String(++this.#beats)
    this.#awaited = beat
    this.#beatSent = performance.now()
    this.client.publish(this.#beatChannel, beat).catch(() => {})
    if (this.list.size > 0) void this.#checkStored()
  }

  /** Writes the mirror back when the set is gone from Redis (a FLUSHDB, an eviction). */
  async #checkStored(): Promise<void> {
    try {
      if ((await this.client.exists(`${this.options.prefix}rv`)) !== 0) return
      const now = this.options.now()
      const inForce = this.list.entries().filter((e) => e.until * 1000 > now)
      if (inForce.length > 0) {
        await this.#writeBack(
          inForce,
          'the set was gone from Redis (FLUSHDB, or evicted: see maxmemory-policy)',
        )
      }
    } catch {
      // The heartbeat tells of a Redis that does not answer.
    }
  }

  async #subscribeAndSync(channel: string): Promise<void> {
    if (this.#closed) return
    if (this.#syncing) {
      // The subscription came back while a sync ran: that sync may have missed what was
      // announced meanwhile, so another follows it.
      this.#again = true
      return
    }
    this.#syncing = true
    this.#again = false
    const generation = this.#generation
    try {
      await this.subscriber.subscribe(channel, this.#beatChannel)
      const now = this.options.now()
      const key = `${this.options.prefix}rv`
      await this.client.eval(PRUNE, 1, key)
      // Put in force page by page, each between two reads: a large set (a million entries) never
      // holds the event loop, and requests meet each page's entries as soon as it is read.
      const stored = new Map<string, { before: number; until: number }>()
      let page: Revocation[] = []
      let left = 0
      const putPage = () => {
        widen(stored, page)
        left += this.list.addAll(page, this.options.now())
        page = []
      }
      for await (const member of scanMembers(this.client, key, now)) {
        const entry = this.#parse(member)
        if (entry !== undefined) page.push(entry)
        if (page.length >= SCAN_COUNT) putPage()
      }
      putPage()
      // Read whole once: from now on an outage serves this list, not an empty one.
      this.list.loaded = true
      if (left > 0) {
        this.options.logger.log('error', 'revocations_full', {
          max_entries: this.list.maxEntries,
          left_out: left,
        })
      }
      // Confirmed only when the subscription held all along: else what was announced while it
      // was away may be missing, and the sync that its return asked for decides.
      const wasConfirmed = this.list.confirmed
      const steady = generation === this.#generation && this.subscriber.status === 'ready'
      this.list.confirmed = steady
      if (steady) {
        // A heartbeat sent before the connections went (and never answered) is not this
        // subscription's: the next one starts afresh.
        this.#awaited = undefined
        this.#reportedDown = false
        this.#synced()
        this.options.logger.log(wasConfirmed ? 'debug' : 'info', 'revocations_synced', {
          store: 'redis',
          entries: this.list.size,
        })
      }
      // What this process holds and Redis lost is written back (and announced), in one
      // transaction, after the list is confirmed: a failure here costs the next sync nothing.
      void this.#writeBackMissing(stored, now)
    } catch (e) {
      // Redis answered the subscription but not the read (or neither): try again shortly.
      if (!this.#reportedDown && !this.#closed) {
        this.#reportedDown = true
        this.options.logger.log('warn', 'revocations_unconfirmed', {
          store: 'redis',
          reason: `cannot load the revocations from Redis (${
            e instanceof Error ? e.message.slice(0, 200) : 'failed'
          }); serving from the last synced list`,
          entries: this.list.size,
        })
      }
      if (!this.#closed) {
        clearTimeout(this.#retry)
        this.#retry = setTimeout(() => void this.#subscribeAndSync(channel), RESYNC_RETRY_MS)
      }
    } finally {
      this.#syncing = false
      if (this.#again && !this.#closed) void this.#subscribeAndSync(channel)
    }
  }

  /** Writes back what this process holds in force at `now` and `stored` (Redis's) lacks. */
  async #writeBackMissing(
    stored: Map<string, { before: number; until: number }>,
    now: number,
  ): Promise<void> {
    const held = this.list.entries()
    const missing: Revocation[] = []
    for (let i = 0; i < held.length; i++) {
      const e = held[i]!
      if (e.until * 1000 > now && !holds(stored, e)) missing.push(e)
      // A yield every page: a million entries never hold the event loop.
      if (i % SCAN_COUNT === SCAN_COUNT - 1) await new Promise((resolve) => setTimeout(resolve, 0))
    }
    if (missing.length > 0) await this.#writeBack(missing)
  }

  /** Writes back, in chunks of one transaction each, what Redis lacks; logged once. */
  async #writeBack(
    entries: readonly Revocation[],
    reason = 'Redis lacked revocations this process holds (restarted without persistence?)',
  ): Promise<void> {
    const key = `${this.options.prefix}rv`
    try {
      for (let i = 0; i < entries.length; i += 500) {
        const batch = this.client.multi()
        for (const entry of entries.slice(i, i + 500)) {
          const json = JSON.stringify(revocationJson(entry))
          batch.zadd(key, entry.until * 1000, json).publish(key, json)
        }
        const replies = await batch.exec()
        const failed = replies?.find(([error]) => error !== null)
        if (replies === null || failed !== undefined) {
          throw failed?.[0] ?? new Error('the transaction was discarded')
        }
      }
      this.options.logger.log('warn', 'revocations_restored', {
        store: 'redis',
        entries: entries.length,
        reason,
      })
    } catch (e) {
      // Tried again at the next reconnect, which finds them missing again.
      this.options.logger.log('error', 'revocations_restore_failed', {
        store: 'redis',
        entries: entries.length,
        error: e instanceof Error ? e.message.slice(0, 200) : 'failed',
      })
    }
  }

  #lost(why = 'the subscription to Redis was lost'): void {
    if (!this.list.confirmed || this.#closed) return
    this.list.confirmed = false
    this.#reportedDown = true
    this.options.logger.log('warn', 'revocations_unconfirmed', {
      store: 'redis',
      reason: `${why}; serving from the last synced list`,
      entries: this.list.size,
    })
  }

  #announce(message: string): void {
    const entry = this.#parse(message)
    if (entry === undefined) return
    this.#add(entry)
  }

  #add(entry: Revocation): void {
    if (!this.list.add(entry, this.options.now())) {
      this.options.logger.log('error', 'revocations_full', {
        max_entries: this.list.maxEntries,
        left_out: 1,
      })
    }
  }

  #parse(json: string): Revocation | undefined {
    let value: unknown
    try {
      value = JSON.parse(json)
    } catch {
      value = undefined
    }
    const entry = parseRevocation(
      value,
      Math.floor(this.options.now() / 1000),
      this.options.maxLifetimeSec,
    )
    if (typeof entry === 'string') {
      this.options.logger.log('warn', 'revocation_invalid', { store: 'redis', problem: entry })
      return undefined
    }
    return entry
  }
}

/** What a revocation is of (its kind, subject and issuer), apart from its times. */
function identity(entry: Revocation): string {
  switch (entry.kind) {
    case 'jti':
      return `jti\u0000${entry.jti}\u0000${entry.iss ?? ''}`
    case 'token':
      return `token\u0000${entry.hash}`
    case 'sub':
      return `sub\u0000${entry.sub}\u0000${entry.iss ?? ''}`
    case 'issuer':
      return `issuer\u0000${entry.iss}`
  }
}

/** Widens `out` (per identity, the latest `before` and `until`) by `entries`. */
function widen(
  out: Map<string, { before: number; until: number }>,
  entries: readonly Revocation[],
): void {
  for (const e of entries) {
    const before = 'before' in e ? e.before : 0
    const known = out.get(identity(e))
    out.set(identity(e), {
      before: Math.max(known?.before ?? 0, before),
      until: Math.max(known?.until ?? 0, e.until),
    })
  }
}

/** True when `stored` covers `entry` at least as widely. */
function holds(stored: Map<string, { before: number; until: number }>, entry: Revocation): boolean {
  const known = stored.get(identity(entry))
  if (known === undefined || known.until < entry.until) return false
  return !('before' in entry) || known.before >= entry.before
}
