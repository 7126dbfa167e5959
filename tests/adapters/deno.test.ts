/** The Deno adapter (src/adapters/deno.ts) against the adapter contract (deno test only). */
import { runtimeDeps, serve } from '../../src/adapters/deno.ts'
import { adapterContract } from './shared.ts'

adapterContract('adapters/deno', serve, runtimeDeps)
