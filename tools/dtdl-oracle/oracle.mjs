// The reference DTDL parser (DTDLParser 1.1.3 compiled to WebAssembly, from the npm package
// @digicatapult/dtdl-parser) behind a line-oriented JSON protocol. Dev-only: a test oracle and a
// benchmark baseline for dtgraph.dtdl; the product never runs it.
//
// One JSON request per line on stdin, one JSON response per line on stdout, in order:
//
//   {"id": 1, "documents": ["<json text>", ...]}
//     -> {"id": 1, "valid": false, "kind": "Parsing", "errors": [{"code": "...", "message": "...", ...}], "undefined": []}
//   {"id": 2, "documents": [...], "time": true, "repeat": 20}
//     -> the same, plus "elapsed_ms": [ms of each of the 20 parses]
//   {"id": 3, "batch": [[...texts of case 1...], [...texts of case 2...]], "time": true, "repeat": 3}
//     -> {"id": 3, "results": [<result of each case>], "elapsed_ms": [ms to parse the whole batch, per repeat]}
//   {"id": 4, "documents": [...], "summary": true}   -> valid results also carry "elements" and "interfaces"
//   {"id": 5, "version": true}                       -> {"id": 5, "version": "DTDLParser, Version=1.1.3..."}
//
// Codes are the parser's ValidationIDs without the "dtmi:dtdl:parsingError:" prefix. "kind" is
// "Parsing", "Resolution" or, when the parser threw anything else, "Crash" (with "crash": "<message>"):
// the input was not accepted, so "valid" is false. A malformed request gets {"id", "protocol_error"}.
//
// Several documents are handed to the parser as one JSON array text (the package exposes only a
// single-text Parse): a document that is itself an array has its elements spliced in, textually, so
// that no value is re-serialised. Timings cover only this joining and the parser call.

import { createInterface } from 'node:readline'

// The .NET runtime may write to the console; keep stdout for the protocol alone.
const writeOut = process.stdout.write.bind(process.stdout)
for (const level of ['log', 'info', 'debug', 'warn', 'trace']) {
  console[level] = (...args) => process.stderr.write(args.map(String).join(' ') + '\n')
}

const PREFIX = 'dtmi:dtdl:parsingError:'
const FIELDS = {
  PrimaryID: 'primary_id',
  SecondaryID: 'secondary_id',
  Property: 'property',
  AuxProperty: 'aux_property',
  Type: 'type',
  Value: 'value',
  Restriction: 'restriction',
  Transformation: 'transformation',
  Violations: 'violations',
  Action: 'action',
}

let parser
try {
  const { getInterop } = await import('@digicatapult/dtdl-parser')
  parser = await getInterop()
} catch (err) {
  process.stderr.write(
    `dtdl-oracle: cannot load @digicatapult/dtdl-parser (${err.message}); run: npm ci --prefix tools/dtdl-oracle\n`,
  )
  process.exit(3)
}

const stripBom = (text) => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)

// Join document texts into the single text the parser accepts.
const joinDocuments = (texts) => {
  if (texts.length === 1) return stripBom(texts[0])
  const parts = []
  for (const raw of texts) {
    const text = stripBom(raw).trim()
    if (text.startsWith('[') && text.endsWith(']')) {
      const inner = text.slice(1, -1)
      if (inner.trim() !== '') parts.push(inner)
    } else {
      parts.push(text)
    }
  }
  return '[' + parts.join(',') + ']'
}

const convertError = (e) => {
  const id = e.ValidationID ?? ''
  const out = { code: id.startsWith(PREFIX) ? id.slice(PREFIX.length) : id, message: e.Cause ?? '' }
  for (const [key, name] of Object.entries(FIELDS)) {
    if (e[key] !== null && e[key] !== undefined) out[name] = e[key]
  }
  return out
}

// Parse one model; returns {ok, text} or {ok: false, err}.
const runParse = (texts) => {
  try {
    return { ok: true, text: parser.parse(joinDocuments(texts)) }
  } catch (err) {
    return { ok: false, err }
  }
}

const describe = (outcome, summary) => {
  if (outcome.ok) {
    const result = { valid: true, kind: null, errors: [], undefined: [] }
    if (summary) {
      const model = JSON.parse(outcome.text)
      const elements = Object.values(model)
      result.elements = elements.length
      result.interfaces = elements.filter((el) => el.EntityKind === 'Interface').length
    }
    return result
  }
  const message = outcome.err instanceof Error ? outcome.err.message : String(outcome.err)
  let info
  try {
    info = JSON.parse(message)
  } catch {
    info = null
  }
  if (info?.ExceptionKind === 'Parsing') {
    return { valid: false, kind: 'Parsing', errors: (info.Errors ?? []).map(convertError), undefined: [] }
  }
  if (info?.ExceptionKind === 'Resolution') {
    return { valid: false, kind: 'Resolution', errors: [], undefined: info.UndefinedIdentifiers ?? [] }
  }
  // The WebAssembly build throws bare .NET exceptions (e.g. Arg_NullReferenceException) on some
  // malformed input; the input was not accepted, so this counts as a rejection of kind "Crash".
  return { valid: false, kind: 'Crash', errors: [], undefined: [], crash: message }
}

const checkTexts = (texts) => {
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) {
    throw new Error('documents must be a list of JSON texts (strings)')
  }
  return texts
}

const handle = (req) => {
  if (req.version) return { version: parser.parserVersion() }
  const repeat = req.time ? Math.max(1, Number(req.repeat ?? 1) | 0) : 1
  if (req.batch !== undefined) {
    if (!Array.isArray(req.batch)) throw new Error('batch must be a list of document lists')
    const cases = req.batch.map(checkTexts)
    const elapsed = []
    let outcomes
    for (let r = 0; r < repeat; r++) {
      const start = performance.now()
      outcomes = cases.map(runParse)
      elapsed.push(performance.now() - start)
    }
    const response = {}
    if (req.results !== false) response.results = outcomes.map((o) => describe(o, req.summary))
    if (req.time) response.elapsed_ms = elapsed
    return response
  }
  const texts = checkTexts(req.documents)
  const elapsed = []
  let outcome
  for (let r = 0; r < repeat; r++) {
    const start = performance.now()
    outcome = runParse(texts)
    elapsed.push(performance.now() - start)
  }
  const response = describe(outcome, req.summary)
  if (req.time) response.elapsed_ms = elapsed
  return response
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false })
for await (const line of lines) {
  if (line.trim() === '') continue
  let id = null
  let response
  try {
    const req = JSON.parse(line)
    id = req.id ?? null
    response = { id, ...handle(req) }
  } catch (err) {
    response = { id, protocol_error: err instanceof Error ? err.message : String(err) }
  }
  writeOut(JSON.stringify(response) + '\n')
}
