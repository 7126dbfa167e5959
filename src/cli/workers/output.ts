/**
 * @module The workers' standard output (access and event lines), written on by the primary in
 * whole lines. Workers sharing one stdout cut each other's lines: a pipe takes a write longer
 * than PIPE_BUF (4096 bytes on Linux) in pieces, and under backpressure a runtime writes its
 * queued lines in pieces of any length (measured: 3–4 of 1,000 lines of 3.5 KiB broken with two
 * Bun workers and a slow reader). Each worker writes to a pipe of its own; the primary, the one
 * writer of the real stdout, passes on only what ends with a newline.
 */

/** Past this many bytes without a newline, what a worker wrote is passed on as a line of its own. */
const LONGEST_LINE = 1 << 20

/**
 * Reads `stream` until it ends and hands `write` the complete lines it carries, several at once
 * where a chunk holds several (joined by newlines, without the last one); a last line without a
 * newline when the stream ends.
 */
export async function relayLines(
  stream: ReadableStream<Uint8Array>,
  write: (lines: string) => void,
): Promise<void> {
  const decoder = new TextDecoder()
  let rest = ''
  const pass = (lines: string) => {
    try {
      write(lines)
    } catch {
      // A closed stdout: the worker's lines are still read, or it would block on a full pipe.
    }
  }
  try {
    for await (const chunk of stream) {
      const text = rest + decoder.decode(chunk, { stream: true })
      const end = text.lastIndexOf('\n')
      if (end >= 0) {
        pass(text.slice(0, end))
        rest = text.slice(end + 1)
      } else rest = text
      if (rest.length > LONGEST_LINE) {
        pass(rest)
        rest = ''
      }
    }
  } catch {
    // The pipe broke: the same as its end.
  }
  rest += decoder.decode()
  if (rest !== '') pass(rest)
}
