/**
 * DuckDB's `to_json` writes non-finite doubles as bare `NaN` / `Infinity`, which no JSON parser
 * takes; they become `null`, as top-level non-finite values already do.
 */
export function finiteJson(text: string): string {
  if (!text.includes('NaN') && !text.includes('Infinity')) return text;
  let out = '';
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
      continue;
    }
    if (ch === 0x22) inString = true;
    else if (ch === 0x4e && text.startsWith('NaN', i)) {
      out += text.slice(from, i) + 'null';
      from = i + 3;
      i += 2;
    } else if (ch === 0x2d && text.startsWith('-Infinity', i)) {
      out += text.slice(from, i) + 'null';
      from = i + 9;
      i += 8;
    } else if (ch === 0x49 && text.startsWith('Infinity', i)) {
      out += text.slice(from, i) + 'null';
      from = i + 8;
      i += 7;
    }
  }
  return out + text.slice(from);
}
