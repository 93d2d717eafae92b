// The addon's memory, uploads and programs on the instruction-set model (emulator.ts), as the
// backend and its weight cache use them: the CUDA backend's own logic runs on the CPU.
import type { CudaDevice } from '../../../native/cuda/backend.js';
import { DeviceMemory, emulate } from './emulator.js';

/** A device of `totalBytes` whose memInfo counts what is allocated on it. */
export function emulatedDevice(totalBytes = 2 ** 40, mem = new DeviceMemory()): CudaDevice & { mem: DeviceMemory } {
  const programs = new Map<number, Float64Array>();
  const sizes = new Map<number, number>();
  let used = 0;
  let nextProgram = 1;
  return {
    mem,
    memInfo: () => ({ total: totalBytes, free: totalBytes - used }),
    alloc: (bytes) => {
      if (bytes > totalBytes - used) throw new Error(`out of memory: ${bytes} bytes asked for`);
      const id = mem.alloc(bytes);
      sizes.set(id, bytes);
      used += bytes;
      return id;
    },
    free: (id) => {
      used -= sizes.get(id) ?? 0;
      sizes.delete(id);
    },
    upload: (id, offset, data) => mem.write(id, offset, data),
    createProgram: (code) => {
      programs.set(nextProgram, code);
      return nextProgram++;
    },
    destroyProgram: (id) => void programs.delete(id),
    run: async (program, feeds, outputs) => {
      for (const [id, offset, data] of feeds) mem.write(id, offset, data);
      emulate(mem, programs.get(program)!);
      return outputs.map(([id, offset, bytes]) => mem.read(id, offset, bytes));
    },
  };
}
