"""Mandarin driving speech with known syllable timings (espeak-ng's ``cmn-latn-pinyin`` voice), for the benches.

No engine import: ``bench/quality.py`` runs the engine only through its CLI, and ``bench/mandarin.py`` shares the
syllable rules from here.

Each syllable of tone-numbered pinyin is synthesised separately, its digital silence trimmed, and the syllables
are joined with fixed gaps (40 ms inside a word, 80 ms between words, 450 ms between phrases), so the start and
end of every audible syllable is known exactly. A -60 dBFS noise floor is added (recordings have one, and
pocketsphinx dislikes exact zeros).

``write_clip`` also writes a lipeval-style JSON beside the WAV (``duration_s`` and ``phones`` as
``[[CMU phone, start_s, end_s], ...]``) so ``lipeval.py alignsync2`` and ``motion.py closure`` can judge Mandarin.
The syllable boundaries are exact; inside a syllable the pinyin is mapped to the nearest CMU phones (an
approximation: the judge's opening model was learned on English mouths) and timed by rule: the initial takes the
first 35 % of the audible syllable, at most 60 ms (b and p also get 40 ms of silent closure before the audible
onset), a final's glide takes 25 % of the final and its nasal coda 30 %.
"""
from __future__ import annotations

import io
import json
import subprocess
import wave

import numpy as np

VOICE = "cmn-latn-pinyin"
# Ordinary sentences, tone-numbered pinyin (5 = neutral tone). "-" joins the syllables of a word, a space
# separates words, "|" separates phrases. Chosen for many b/p/m initials and open a/ao/an/ang finals, with
# i/u/ü finals among them.
UTTERANCES = {
    # 妈妈买了八个包子 | 爸爸跑步去办公室 | 朋友们帮忙搬东西 | 我们明天去北京
    "u1_baba_mama": "ma1-ma5 mai3-le5 ba1-ge5 bao1-zi5 | ba4-ba5 pao3-bu4 qu4 ban4-gong1-shi4 | "
                    "peng2-you5-men5 bang1-mang2 ban1 dong1-xi5 | wo3-men5 ming2-tian1 qu4 bei3-jing1",
    # 白马跑得比别的马快 | 不怕慢，只怕站 | 绿色的苹果很便宜 | 八点半我们一起吃饭
    "u2_baima": "bai2-ma3 pao3-de5 bi3 bie2-de5 ma3 kuai4 | bu2 pa4 man4 | zhi3 pa4 zhan4 | "
                "lü4-se4-de5 ping2-guo3 hen3 pian2-yi5 | ba1-dian3 ban4 wo3-men5 yi4-qi3 chi1-fan4",
    # 他把报纸放在桌子上 | 我喜欢吃米饭和面包 | 这本书不太贵 | 下雨了 | 你带伞吗
    "u3_baozhi": "ta1 ba3 bao4-zhi3 fang4-zai4 zhuo1-zi5-shang4 | wo3 xi3-huan1 chi1 mi3-fan4 he2 mian4-bao1 | "
                 "zhe4 ben3 shu1 bu2-tai4 gui4 | xia4-yu3-le5 | ni3 dai4 san3 ma5",
    # 我们今天下午去公园散步 | 看到很多孩子在玩 | 妈妈说晚饭八点半开始
    "u4_gongyuan": "wo3-men5 jin1-tian1 xia4-wu3 qu4 gong1-yuan2 san4-bu4 | kan4-dao4 hen3 duo1 hai2-zi5 zai4 wan2 | "
                   "ma1-ma5 shuo1 wan3-fan4 ba1-dian3 ban4 kai1-shi3",
    # 明年夏天我们打算去北京旅游 | 爬长城，看故宫 | 还要吃烤鸭
    "u5_beijing": "ming2-nian2 xia4-tian1 wo3-men5 da3-suan4 qu4 bei3-jing1 lü3-you2 | pa2 chang2-cheng2 | "
                  "kan4 gu4-gong1 | hai2 yao4 chi1 kao3-ya1",
}
GAP_IN_WORD, GAP_WORDS, GAP_PHRASES = 0.04, 0.08, 0.45  # seconds
LEAD_IN, TAIL = 0.4, 0.4  # silence before the first and after the last syllable
INITIAL_SHARE, INITIAL_MAX, PLOSIVE_CLOSURE = 0.35, 0.06, 0.04

INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c", "s")
# y/w spellings rewritten as the final they stand for (the glide belongs to the final's lip shape).
YW = {"yi": "i", "ya": "ia", "ye": "ie", "yao": "iao", "you": "iu", "yan": "ian", "yang": "iang", "yin": "in",
      "ying": "ing", "yong": "iong", "yu": "ü", "yue": "üe", "yuan": "üan", "yun": "ün", "wu": "u", "wa": "ua",
      "wo": "uo", "wai": "uai", "wei": "ui", "wan": "uan", "wen": "un", "wang": "uang", "weng": "ueng"}
OPEN_FINALS = {"a", "ai", "ao", "an", "ang", "ia", "iao", "iang", "ua", "uai", "uan", "uang"}
# ian is said [iɛn] and üan [yæn] by the voice (espeak-ng -x), so they are not wide open.
MID_FINALS = {"o", "e", "ou", "ei", "en", "eng", "er", "uo", "ie", "üe", "ui", "iu", "ian", "üan", "ueng"}
CLOSE_FINALS = {"i", "u", "ü", "in", "ing", "un", "ün", "ong", "iong", "-i"}

# Nearest CMU phones (lipeval's phone set) for the judge's JSON.
INITIAL_CMU = {"b": "B", "p": "P", "m": "M", "f": "F", "d": "D", "t": "T", "n": "N", "l": "L", "g": "G", "k": "K",
               "h": "HH", "j": "JH", "q": "CH", "x": "SH", "zh": "JH", "ch": "CH", "sh": "SH", "r": "ZH", "z": "Z",
               "c": "S", "s": "S"}
# final -> (glide or "", nucleus, coda or "")
FINAL_CMU = {
    "a": ("", "AA", ""), "ai": ("", "AY", ""), "ao": ("", "AW", ""), "an": ("", "AA", "N"), "ang": ("", "AA", "NG"),
    "o": ("", "AO", ""), "e": ("", "AH", ""), "ou": ("", "OW", ""), "ei": ("", "EY", ""), "en": ("", "AH", "N"),
    "eng": ("", "AH", "NG"), "er": ("", "ER", ""), "i": ("", "IY", ""), "-i": ("", "IH", ""), "u": ("", "UW", ""),
    "ü": ("", "UW", ""), "ia": ("Y", "AA", ""), "ie": ("Y", "EH", ""), "iao": ("Y", "AW", ""), "iu": ("Y", "OW", ""),
    "ian": ("Y", "EH", "N"), "in": ("", "IY", "N"), "iang": ("Y", "AA", "NG"), "ing": ("", "IY", "NG"),
    "iong": ("Y", "UH", "NG"), "ua": ("W", "AA", ""), "uo": ("W", "AO", ""), "uai": ("W", "AY", ""),
    "ui": ("W", "EY", ""), "uan": ("W", "AA", "N"), "un": ("W", "AH", "N"), "uang": ("W", "AA", "NG"),
    "ueng": ("W", "AH", "NG"), "ong": ("", "UH", "NG"), "üe": ("Y", "EH", ""), "üan": ("Y", "EH", "N"),
    "ün": ("Y", "IY", "N"),
}


def split_syllable(syl):
    """Tone-numbered pinyin syllable -> (initial or "", final), with y/w and j/q/x spellings undone."""
    s = syl.rstrip("012345").replace("v", "ü")
    if s[0] in "yw":
        return "", YW[s.replace("yü", "yu")]
    initial = next((i for i in INITIALS if s.startswith(i)), "")
    final = s[len(initial):]
    if initial in ("j", "q", "x") and final.startswith("u"):
        final = "ü" + final[1:]  # ju, que, xuan are spelled without the umlaut
    if initial in ("zh", "ch", "sh", "r", "z", "c", "s") and final == "i":
        final = "-i"  # the apical vowel of zi / shi: a narrow, unrounded mouth
    return initial, final


def final_class(final):
    for name, group in (("open", OPEN_FINALS), ("mid", MID_FINALS), ("close", CLOSE_FINALS)):
        if final in group:
            return name
    raise ValueError(f"no judge class for final {final!r}")


def synth_syllable(syl):
    """espeak-ng WAV of one syllable as float samples with digital silence trimmed, and its rate."""
    wav = subprocess.run(["espeak-ng", "-v", VOICE, "-s", "160", "--stdout", syl], check=True,
                         capture_output=True).stdout
    with wave.open(io.BytesIO(wav)) as w:  # the header's length is bogus (stdout cannot seek): read to the end
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(1 << 30), np.int16).astype(np.float32) / 32768
    loud = np.nonzero(np.abs(x) > 10 ** (-66 / 20))[0]  # espeak-ng's silence is exact zeros
    return x[loud[0]: loud[-1] + 1], rate


def synthesise(text, gap_scale=1.0):
    """Samples at the voice's own rate, the rate, and [(syllable, start_s, end_s, silence_before_s)]."""
    pieces = []  # (syllable, silence before it)
    for p, phrase in enumerate(text.split("|")):
        for w, word in enumerate(phrase.split()):
            for s, syl in enumerate(word.split("-")):
                gap = (GAP_IN_WORD * gap_scale if s else GAP_WORDS * gap_scale if w
                       else GAP_PHRASES if p else LEAD_IN)
                pieces.append((syl, gap))
    parts, syllables, t, rate = [], [], 0.0, None
    for syl, gap in pieces:
        x, rate = synth_syllable(syl)
        t += gap
        parts.append((int(round(t * rate)), x))
        syllables.append((syl, t, t + len(x) / rate, gap))
        t += len(x) / rate
    total = np.zeros(int(round((t + TAIL) * rate)), np.float32)
    for start, x in parts:
        total[start: start + len(x)] = x
    total += np.random.default_rng(0).normal(0, 10 ** (-60 / 20), total.shape).astype(np.float32)
    return total, rate, syllables


def cmu_phones(syllables):
    """[[CMU phone, start_s, end_s], ...] for the syllables (gaps left uncovered: the judge reads them as SIL)."""
    out = []
    for syl, start, end, gap in syllables:
        initial, final = split_syllable(syl)
        split = start
        if initial:
            split = start + min(INITIAL_SHARE * (end - start), INITIAL_MAX)
            closure = min(PLOSIVE_CLOSURE, gap) if initial in ("b", "p") else 0.0
            out.append([INITIAL_CMU[initial], start - closure, split])
        glide, nucleus, coda = FINAL_CMU[final]
        length = end - split
        a = split + (0.25 * length if glide else 0.0)
        b = end - (0.30 * length if coda else 0.0)
        if glide:
            out.append([glide, split, a])
        out.append([nucleus, a, b])
        if coda:
            out.append([coda, b, end])
    return [[p, round(a, 4), round(b, 4)] for p, a, b in out]


def write_wav(path, samples, rate):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def write_clip(base, name):
    """``base``.wav and ``base``.json for UTTERANCES[name]; returns the JSON record."""
    text = UTTERANCES[name]
    x, rate, syllables = synthesise(text)
    write_wav(str(base) + ".wav", x, rate)
    rec = dict(text=text, voice=VOICE, rate=160, sample_rate=rate, duration_s=round(len(x) / rate, 4),
               source="espeak-ng per-syllable synthesis (exact syllable timings); pinyin mapped to CMU phones by rule",
               phones=cmu_phones(syllables),
               syllables=[[s, round(a, 4), round(b, 4)] for s, a, b, _ in syllables])
    with open(str(base) + ".json", "w") as fh:
        json.dump(rec, fh, ensure_ascii=False)
    return rec
