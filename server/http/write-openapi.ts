// `npm run contracts`: writes docs/openapi.json from server/http/openapi.ts. Run it after changing
// a route or a schema; test/contracts.test.ts fails while the committed file differs.
import { writeFileSync } from "node:fs";
import { openApiText } from "./openapi.js";

const file = new URL("../../docs/openapi.json", import.meta.url);
writeFileSync(file, openApiText());
process.stdout.write(`wrote ${file.pathname}\n`);
