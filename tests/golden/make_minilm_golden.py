#!/usr/bin/env python3
"""Writes the golden token ids (and, when torch is there, the sentence embeddings) of
sentence-transformers/all-MiniLM-L6-v2 for tests/text. CI never runs this; the outputs
are committed.

    scripts/fetch_text_encoder.sh build/text_encoder
    python3 -m venv /tmp/golden && /tmp/golden/bin/pip install transformers tokenizers
    /tmp/golden/bin/python tests/golden/make_minilm_golden.py build/text_encoder

writes tests/golden/minilm_tokens.json: the ids of both Hugging Face tokenizers (the
Python BertTokenizer and the Rust fast one; the script stops if they disagree), at
max_length 256 with truncation. With --embeddings, in a venv that has torch and
sentence-transformers (python3 -m venv --system-site-packages, then pip install
sentence-transformers), it also writes tests/golden/minilm_embeddings.json: the
normalised 384-d sentence embeddings, rounded to 7 significant digits.
"""
import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_LENGTH = 256


def texts():
    long_text = " ".join(["The quick brown fox jumps over the lazy dog near the riverbank."] * 30)
    return [
        "a photo of a cat",
        "A photo of an airplane flying over the clouds.",
        "automobile, truck, ship, horse, deer, frog, bird, dog",
        "This is a picture of a small red sports car parked on the street.",
        "café naïve Zürich",
        "Crème brûlée à la française, São Paulo, Ærøskøbing, Łódź",
        "!!!...???",
        "Wait... what?! (really) [yes] {no} <maybe> @home #tag $5 %20 ^_^ ~/path|pipe\\back`tick",
        "3.14159 is pi; 1,000,000 dollars; 2024-01-15; 42nd street; 1e-5",
        "I love pizza 😀🍕 and 🚀 rockets ✨",
        "日本語のテキスト",
        "中文文本测试，你好世界。",
        "한국어 텍스트",
        "Ελληνικά: Η γρήγορη καφέ αλεπού. ΟΔΟΣ",
        "Русский текст: Съешь же ещё этих мягких французских булок.",
        "MiXeD CaSe WoRdS and ALL CAPS",
        "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
        "supercalifragilisticexpialidocious",
        "",
        "   \t\n  ",
        long_text,
        "control\x00chars\x01here\x07and\x1b[0mthere\x7f",
        "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeed",
        "don't can't won't it's the cat's toy 'quoted' \"double\"",
        "state-of-the-art well-known twenty-one e-mail",
        "https://www.example.com/path/to/page?query=1&b=two#frag",
        "user@example.com wrote: see http://huggingface.co/sentence-transformers",
        "İstanbul ß straße ﬁ ligature ＦＵＬＬＷＩＤＴＨ",
        "e\u0301 combining acute, a\u0308 combining diaeresis",
        "soft\u00adhyphen zero\u200bwidth joiner\u200dhere nbsp\u00a0space line\u2028sep",
        "«quotes» „low“ ‘single’ — em-dash – en-dash … ellipsis",
        "hello [SEP] world [CLS] and [sep] lower",
        "Arabic: مرحبا بالعالم Hebrew: שלום עולם",
        "Hindi: नमस्ते दुनिया Thai: สวัสดีชาวโลก",
        "a" * 100 + " " + "b" * 101,
        "x",
        "The Eiffel Tower is in Paris, France.",
        "an image of a dog playing fetch in the park",
    ]


def tokens(model_dir):
    from transformers import BertTokenizer, BertTokenizerFast

    slow = BertTokenizer.from_pretrained(model_dir)
    fast = BertTokenizerFast.from_pretrained(model_dir)
    cases = []
    for t in texts():
        a = slow(t, max_length=MAX_LENGTH, truncation=True)["input_ids"]
        b = fast(t, max_length=MAX_LENGTH, truncation=True)["input_ids"]
        if a != b:
            raise SystemExit(f"the Python and Rust tokenizers disagree on {t!r}:\n{a}\n{b}")
        cases.append({"text": t, "ids": a})
    with open(os.path.join(HERE, "minilm_tokens.json"), "w", encoding="utf-8") as f:
        f.write('{"model": "sentence-transformers/all-MiniLM-L6-v2",\n')
        f.write(f' "max_length": {MAX_LENGTH},\n "cases": [\n')
        f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n ]}\n")
    print(f"minilm_tokens.json: {len(cases)} texts")


def embeddings(model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = MAX_LENGTH
    ts = texts()
    emb = model.encode(ts, batch_size=8, normalize_embeddings=True, convert_to_numpy=True)
    doc = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "max_length": MAX_LENGTH,
        "pooling": "mean over the attention mask, then L2-normalised",
        "cases": [{"text": t, "embedding": [float(f"{x:.7g}") for x in e]} for t, e in zip(ts, emb)],
    }
    with open(os.path.join(HERE, "minilm_embeddings.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
        f.write("\n")
    print(f"minilm_embeddings.json: {len(ts)} texts, {emb.shape[1]} dimensions")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir", help="the folder scripts/fetch_text_encoder.sh filled")
    ap.add_argument("--embeddings", action="store_true", help="write the embeddings instead (needs torch)")
    args = ap.parse_args()
    if args.embeddings:
        embeddings(args.model_dir)
    else:
        tokens(args.model_dir)


if __name__ == "__main__":
    main()
