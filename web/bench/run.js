// The timing loop, shared by Node and the browser so both measure the same thing.
// `rt` is a TinyMLP with a model loaded; `images` an array of 784-byte inputs.
// Returns the best and median nanoseconds per inference over `rounds` passes:
//   api:  TinyMLP.classify (copies the pixels in, the probabilities and raw outputs out)
//   core: the wasm export on pixels copied straight into its input buffer (the runtime's own
//         cost, as the native figure measures it)
export function timeInference(rt, images, rounds, now) {
  const result = {};
  const w = rt.wasm;
  const input = () => new Uint8Array(w.memory.buffer, w.tmlp_input_ptr(), images[0].length);
  const loops = {
    api: () => {
      let sum = 0;
      for (const image of images) sum += rt.classify(image).class;
      return sum;
    },
    core: () => {
      let sum = 0;
      const view = input();
      for (const image of images) {
        view.set(image);
        sum += w.tmlp_predict(view.length);
      }
      return sum;
    },
  };
  for (const [name, loop] of Object.entries(loops)) {
    loop(); // warm-up: compile tiers
    const perRound = [];
    for (let r = 0; r < rounds; r++) {
      const start = now();
      loop();
      perRound.push(((now() - start) * 1e6) / images.length);
    }
    perRound.sort((a, b) => a - b);
    result[name] = { best_ns: perRound[0], median_ns: perRound[Math.floor(perRound.length / 2)] };
  }
  return result;
}
