// Host side of the floor loop (bench/floor/floor.ts → build/floor.wasm): the smallest possible
// band check in wasm, used as the practical limit of the machine in `npm run bench:kernel`.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const DEFAULT_WASM = fileURLToPath(new URL("../../build/floor.wasm", import.meta.url));

interface FloorExports {
  memory: WebAssembly.Memory;
  init(slotCap: number, batchCap: number): number;
  limitsPtr(): number;
  inSlotPtr(): number;
  inTimePtr(): number;
  inValuePtr(): number;
  triagePtr(): number;
  run(n: number): void;
}

export interface FloorColumns {
  slots: Uint32Array;
  times: Float64Array;
  values: Float32Array;
}

export class Floor {
  private constructor(
    private readonly ex: FloorExports,
    readonly slotCap: number,
    readonly batchCap: number,
    readonly limits: Float32Array,
    private readonly cols: FloorColumns,
    private readonly triageView: Uint8Array,
  ) {}

  /** Instantiates build/floor.wasm with room for `slotCap` slots and `batchCap` readings per run. */
  static load(slotCap: number, batchCap: number, wasmPath: string = DEFAULT_WASM): Floor {
    const mod = new WebAssembly.Module(readFileSync(wasmPath));
    const imports: Record<string, Record<string, unknown>> = {};
    for (const imp of WebAssembly.Module.imports(mod)) {
      // The stub runtime may import abort(); nothing else is expected.
      (imports[imp.module] ??= {})[imp.name] = () => {
        throw new Error(`floor.wasm called ${imp.module}.${imp.name}`);
      };
    }
    const ex = new WebAssembly.Instance(mod, imports as WebAssembly.Imports).exports as unknown as FloorExports;
    if (ex.init(slotCap, batchCap) === 0) throw new Error("floor.wasm: could not grow memory");
    const buf = ex.memory.buffer;
    const limits = new Float32Array(buf, ex.limitsPtr() >>> 0, slotCap * 4);
    const cols: FloorColumns = {
      slots: new Uint32Array(buf, ex.inSlotPtr() >>> 0, batchCap),
      times: new Float64Array(buf, ex.inTimePtr() >>> 0, batchCap),
      values: new Float32Array(buf, ex.inValuePtr() >>> 0, batchCap),
    };
    const triage = new Uint8Array(buf, ex.triagePtr() >>> 0, batchCap);
    return new Floor(ex, slotCap, batchCap, limits, cols, triage);
  }

  /** Copies the per-slot band limits in (4 f32 per slot: red-low, yellow-low, yellow-high, red-high). */
  setLimits(limits: Float32Array): void {
    if (limits.length > this.limits.length) throw new Error("floor: more slots than slotCap");
    this.limits.set(limits);
  }

  /** Views of the input columns (the first `n` entries are read by `run(n)`). */
  inputColumns(n: number): FloorColumns {
    if (n > this.batchCap) throw new Error(`floor: batch ${n} > batchCap ${this.batchCap}`);
    return this.cols;
  }

  run(n: number): void {
    this.ex.run(n);
  }

  /** Triage codes of the last run (view into wasm memory; valid until the next run). */
  triage(n: number): Uint8Array {
    return this.triageView.subarray(0, n);
  }
}
