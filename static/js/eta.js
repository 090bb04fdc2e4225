// Time left for a running video, from the stage it is in and the frames it has done.
//
// The overall percentage is a poor clock: its stage shares are fixed while stages take different
// times on different machines (a GPU renders far faster than it tracks). Instead, each stage has a
// cost per unit of work (template frames for tracking, output frames for rendering...), learnt
// from this server's recent videos (jobs/pace.py). The stage running now tells how fast this
// machine goes today; the stages still to come are priced at that speed.
"use strict";

const HeyGemEta = (() => {
  const ORDER = ["probe", "audio", "speak", "track", "select", "render", "finish"];

  // pace: {stage: seconds per unit}; frames: {template, output} expected frame counts.
  function create(pace, frames) {
    const starts = {};   // stage -> time (s) it began
    const ended = {};    // stage -> seconds it took
    let current = null;

    function unitsOf(stage, data) {
      if (stage === current && data && data.frames_total) return data.frames_total;
      if (stage === "probe") return 1;
      return stage === "track" ? frames.template : frames.output;
    }

    // How much slower (>1) or faster (<1) than `pace` this run goes.
    function speed(data, now) {
      const done = data && data.frames_done, total = data && data.frames_total;
      const elapsed = now - starts[current];
      // The running stage, once it has done enough frames to be measured.
      if (done && total && done >= Math.max(3, 0.03 * total) && elapsed > 0 && pace[current]) {
        return (elapsed / done) / pace[current];
      }
      // Else the stages already done, weighed by what they were expected to take.
      let took = 0, expected = 0;
      for (const [stage, seconds] of Object.entries(ended)) {
        if (stage === "probe" || !pace[stage]) continue;  // Model loading says little about frame speed.
        took += seconds;
        expected += pace[stage] * unitsOf(stage);
      }
      return expected > 0.5 ? took / expected : 1;
    }

    // Feeds one progress report (`data` as in a result.progress event) at `now` seconds; returns
    // the seconds left, or NaN when it cannot tell yet.
    function update(data, now) {
      const stage = data.stage;
      if (!ORDER.includes(stage)) return NaN;
      if (stage !== current) {
        if (current !== null && starts[current] !== undefined) ended[current] = now - starts[current];
        current = stage;
        starts[stage] = now;
      }
      const factor = speed(data, now);
      const elapsed = now - starts[stage];
      let left;
      if (data.frames_total && data.frames_done) {
        left = factor * (pace[stage] || 0) * (data.frames_total - data.frames_done);
      } else {
        left = Math.max(0, factor * (pace[stage] || 0) * unitsOf(stage, data) - elapsed);
      }
      for (const later of ORDER.slice(ORDER.indexOf(stage) + 1)) {
        if (later === "speak" && !(later in pace && frames.speak)) continue;
        left += factor * (pace[later] || 0) * unitsOf(later);
      }
      return left;
    }

    return { update };
  }

  return { create, ORDER };
})();
