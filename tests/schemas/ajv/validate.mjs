// Validate messages against tradewire's JSON Schema with ajv in strict mode.
// stdin: {"schema": <schema>, "messages": [<base64 of the raw bytes>, ...]}
// stdout: [{"valid": bool, "error": str}, ...], one per message, in order.
// A message that is not UTF-8 or not JSON is reported as "malformed", as a bot's
// own JSON library would refuse it before any schema is consulted.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";

const input = JSON.parse(readFileSync(0, "utf8"));
const ajv = new Ajv2020({ strict: true, allErrors: false });
const validate = ajv.compile(input.schema);
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });  // keep a BOM: not JSON

const out = input.messages.map((b64) => {
  let value;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(b64, "base64")));
  } catch (err) {
    return { valid: false, error: `malformed: ${err.message}` };
  }
  if (validate(value)) return { valid: true, error: "" };
  return { valid: false, error: ajv.errorsText(validate.errors) };
});
process.stdout.write(JSON.stringify(out));
