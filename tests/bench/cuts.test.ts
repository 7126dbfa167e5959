/**
 * bench/micro/steps.ts measures copies of src/ with steps cut out (bench/micro/cuts.ts): each cut
 * must still find its text, once, in the current source, applied in order as steps.ts applies them.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { applyEdit, CUTS } from '../../bench/micro/cuts.ts'
import { test } from '../helpers/t.ts'

const src = new URL('../../src/', import.meta.url)

test('every cut of bench/micro/steps.ts applies to the current source, in order', () => {
  const edited = new Map<string, string>()
  for (const cut of CUTS) {
    for (const edit of cut.edits) {
      const text = edited.get(edit.file) ?? readFileSync(new URL(edit.file, src), 'utf8')
      const after = applyEdit(text, edit)
      assert.notEqual(after, text, `${cut.label}: ${edit.file} unchanged`)
      edited.set(edit.file, after)
    }
  }
  assert.equal(CUTS.length, 7)
})

test('a cut whose text is gone, or found twice, is refused by name', () => {
  const edit = { file: 'core/x.ts', find: 'const a = 1', replace: '' }
  assert.throws(() => applyEdit('const b = 2', edit), /core\/x\.ts has 0 copies/)
  assert.throws(() => applyEdit('const a = 1; const a = 1', edit), /has 2 copies/)
  assert.equal(applyEdit('const a = 1;', { ...edit, replace: '$&x' }), '$&x;')
})
