/**
 * A real redis-server for the tests (Debian's package; `.ci/run` installs it when missing), on a
 * free loopback port, without persistence. It can be killed, paused (SIGSTOP: a server that
 * accepts and never answers) and started again on the same port.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createConnection } from 'node:net'

export interface TestRedis {
  readonly port: number
  readonly url: string
  /** Stops it for good (SIGKILL: nothing is flushed, as a crash). */
  kill(): Promise<void>
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>
  /** SIGSTOP / SIGCONT: the server holds connections and answers nothing. */
  pause(): void
  resume(): void
  /** Sends one command (inline protocol) and resolves with the raw reply. */
  command(line: string): Promise<string>
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    const port = server.port
    server.stop(true)
    port > 0 ? resolve(port) : reject(new Error('no free port'))
  })
}

function send(port: number, line: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let reply = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`redis on ${port}: no reply to ${line.split(' ')[0]}`))
    }, timeoutMs)
    socket.on('connect', () => socket.write(`${line}\r\n`))
    socket.on('data', (chunk) => {
      reply += chunk.toString()
      if (reply.endsWith('\r\n')) {
        clearTimeout(timer)
        socket.end()
        resolve(reply.trimEnd())
      }
    })
    socket.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
  })
}

async function started(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--loglevel',
    'warning',
  ], { stdio: 'ignore' })
  const deadline = Date.now() + 5000
  for (;;) {
    try {
      if ((await send(port, 'PING', 200)) === '+PONG') return child
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error('redis-server did not start (is it installed? .ci/run installs it)')
    }
    await Bun.sleep(20)
  }
}

/** Starts a redis-server on a free loopback port. */
export async function startRedis(): Promise<TestRedis> {
  const port = await freeTcpPort()
  let child = await started(port)
  const exited = (c: ChildProcess) =>
    new Promise<void>((resolve) =>
      c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve())
    )
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await exited(child)
    },
    async restart() {
      child = await started(port)
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    command: (line) => send(port, line),
  }
}

/**
 * A TCP relay to a loopback port that a test can cut (every connection closed, new ones refused)
 * and restore, or hold: new connections then accepted and never answered (a Redis that hangs),
 * and counted, while those made before go on.
 */
export interface Relay {
  readonly port: number
  cut(): void
  restore(): void
  hold(): void
  release(): void
  /** Connections held since the relay started. */
  held(): number
  /**
   * The connections open now go silent both ways without closing (a network path that drops
   * packets: TCP notices after minutes); new ones are relayed as before.
   */
  silence(): void
}

/** Relays 127.0.0.1:<port> to `target` (a connection between a client and Redis, to break at will). */
export function relay(target: number): Relay {
  type Pair = {
    client: Bun.Socket<Pair>
    upstream?: Bun.TCPSocket
    pending: Uint8Array[]
    held: boolean
    silent?: boolean
  }
  const open = new Set<Pair>()
  const holding = { now: false, count: 0 }
  const handlers = {
    open(client: Bun.Socket<Pair>) {
      const pair: Pair = { client, pending: [], held: holding.now }
      client.data = pair
      open.add(pair)
      if (pair.held) return void holding.count++
      void Bun.connect({
        hostname: '127.0.0.1',
        port: target,
        socket: {
          open(upstream) {
            pair.upstream = upstream
            for (const chunk of pair.pending) upstream.write(chunk)
            pair.pending = []
          },
          data(_, chunk) {
            if (!pair.silent) pair.client.write(chunk)
          },
          close() {
            pair.client.end()
          },
          error() {
            pair.client.end()
          },
        },
      }).catch(() => client.end())
    },
    data(client: Bun.Socket<Pair>, chunk: Uint8Array) {
      const pair = client.data
      if (pair.held || pair.silent) return
      if (pair.upstream === undefined) pair.pending.push(new Uint8Array(chunk))
      else pair.upstream.write(chunk)
    },
    close(client: Bun.Socket<Pair>) {
      client.data?.upstream?.end()
      open.delete(client.data)
    },
  }
  const listen = (port: number) =>
    Bun.listen<Pair>({ hostname: '127.0.0.1', port, socket: handlers })
  let listener: ReturnType<typeof listen> | undefined = listen(0)
  const port = listener.port
  return {
    port,
    cut() {
      listener?.stop(true)
      listener = undefined
      for (const pair of open) {
        pair.upstream?.end()
        pair.client.end()
      }
      open.clear()
    },
    restore() {
      listener ??= listen(port)
    },
    silence() {
      for (const pair of open) pair.silent = true
    },
    hold: () => void (holding.now = true),
    release: () => void (holding.now = false),
    held: () => holding.count,
  }
}
