// A record's signed bytes, checked in the browser as docs/protocol.md says, trusting
// nothing the node serves beside them.

const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
function base58(bytes) {
  let n = 0n; for (const b of bytes) n = n * 256n + BigInt(b);
  let s = ""; while (n > 0n) { s = B58[Number(n % 58n)] + s; n /= 58n; }
  for (const b of bytes) { if (b !== 0) break; s = "1" + s; }
  return s;
}
// Decodes one CBOR item (the subset records use); returns [value, end].
function cbor(b, p) {
  const ib = b[p], major = ib >> 5, ai = ib & 31; let n = ai, q = p + 1;
  if (ai === 24) { n = b[q]; q += 1; } else if (ai === 25) { n = b[q] * 256 + b[q + 1]; q += 2; }
  else if (ai === 26) { n = ((b[q] * 256 + b[q + 1]) * 256 + b[q + 2]) * 256 + b[q + 3]; q += 4; }
  else if (ai === 27) { n = 0; for (let i = 0; i < 8; i++) n = n * 256 + b[q + i]; q += 8; }
  else if (ai > 27) throw new Error("unsupported CBOR");
  switch (major) {
    case 0: return [n, q];
    case 1: return [-1 - n, q];
    case 2: return [b.slice(q, q + n), q + n];
    case 3: return [new TextDecoder().decode(b.slice(q, q + n)), q + n];
    case 4: { const a = []; for (let i = 0; i < n; i++) { const [v, e] = cbor(b, q); a.push(v); q = e; } return [a, q]; }
    case 5: { const m = {}; for (let i = 0; i < n; i++) { const [k, e] = cbor(b, q); const [v, e2] = cbor(b, e); m[k] = v; q = e2; } return [m, q]; }
    case 7: return [ai === 21 ? true : ai === 20 ? false : null, q];
    default: throw new Error("unsupported CBOR");
  }
}
// Checks the record as docs/protocol.md says; returns the signed record, or throws why not.
export async function verify(rec) {
  const bytes = b64(rec.cbor);
  if (bytes[0] !== 0xa8) throw new Error("not a record");
  const entries = []; let p = 1;
  for (let i = 0; i < 8; i++) { const [key, kend] = cbor(bytes, p); const [value, vend] = cbor(bytes, kend); entries.push({ key, value, start: p, end: vend }); p = vend; }
  if (p !== bytes.length) throw new Error("trailing bytes");
  const record = Object.fromEntries(entries.map((e) => [e.key, e.value]));
  const unsigned = [0xa7]; for (const e of entries) if (e.key !== "sig") unsigned.push(...bytes.slice(e.start, e.end));
  const message = new Uint8Array([...new TextEncoder().encode("maillage-record-v1:"), ...unsigned]);
  const key = await crypto.subtle.importKey("raw", record.author, { name: "Ed25519" }, false, ["verify"]);
  if (!(await crypto.subtle.verify({ name: "Ed25519" }, key, record.sig, message))) throw new Error("bad signature");
  if (hex(await crypto.subtle.digest("SHA-256", bytes)) !== rec.hash) throw new Error("hash mismatch");
  if ("did:key:z" + base58(new Uint8Array([0xed, 0x01, ...record.author])) !== rec.author) throw new Error("author mismatch");
  return record;
}
