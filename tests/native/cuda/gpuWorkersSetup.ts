// For tests/native/cuda/gpu-workers.sh on a GPU machine: a full-size random SDXL (float16) and N demo
// birds at 512² in DIR (model/, images/). Usage: node gpuWorkersSetup.js DIR N
import path from 'node:path';
import { writeRandomSdxlModel, SDXL_SIZES } from '../../../native/sdxl/randomModel.js';
import { writeDemoDataset } from '../../../resources/demo/writeDataset.js';

const [dir, count] = process.argv.slice(2);
const t = Date.now();
writeRandomSdxlModel(path.join(dir!, 'model'), SDXL_SIZES, 0, { dtype: 'F16' });
console.log(`model written in ${((Date.now() - t) / 1000).toFixed(1)} s`);
await writeDemoDataset(path.join(dir!, 'images'), Number(count), { seed: 7, size: 512 });
console.log(`${count} images written`);
