"""Hand-made English-Swahili cases and a tiny local sentence-transformers model for the corpus tests."""
from __future__ import annotations

from pathlib import Path

# Each side is labelled en / sw by py3langid; 7-10 words, so they pass min_len 3 and ratio 0.45-2.0.
GOOD = [
    ("The children are playing in the garden with their friends.",
     "Watoto wanacheza bustanini pamoja na marafiki zao."),
    ("We need to buy more food for the family this week.",
     "Tunahitaji kununua chakula zaidi kwa ajili ya familia wiki hii."),
    ("The teacher explained the lesson clearly to all the students.",
     "Mwalimu alieleza somo vizuri kwa wanafunzi wote."),
    ("The doctor said that the patient will go home tomorrow.",
     "Daktari alisema kwamba mgonjwa atarudi nyumbani kesho."),
    ("The farmers are waiting for the rain to plant maize.", "Wakulima wanasubiri mvua ili wapande mahindi."),
    ("My brother works at the hospital in the city.", "Kaka yangu anafanya kazi katika hospitali ya mji."),
    ("The water in the river is very clean this year.", "Maji ya mto ni safi sana mwaka huu."),
    ("Our village has a new school and a small clinic.", "Kijiji chetu kina shule mpya na zahanati ndogo."),
    ("The market opens early every morning except on Sunday.",
     "Soko hufunguliwa mapema kila asubuhi isipokuwa Jumapili."),
]
# Moses rules rewrite curly quotes and collapse double spaces.
NEEDS_NORMALISING = ("She said “we will travel to Mombasa  next month” with joy.",
                     "Alisema “tutasafiri kwenda Mombasa mwezi ujao” kwa furaha.")
NORMALISED = ('She said "we will travel to Mombasa next month" with joy.',
              'Alisema "tutasafiri kwenda Mombasa mwezi ujao" kwa furaha.')
TOO_SHORT = ("Thank you.", "Asante sana.")  # 2 words < min_len 3
TOO_LONG = (" ".join(["The long road goes on and on."] * 40), " ".join(["Barabara ndefu inaendelea."] * 60))
BAD_RATIO = ("The farmers are waiting.",  # 4 words against 11: ratio 0.36 < 0.45
             "Wakulima wanasubiri mvua ili wapande mahindi na maharage katika mashamba yao makubwa.")
WRONG_TGT = ("The children are playing in the garden with their friends today.",
             "Les enfants jouent dans le jardin avec leurs amis.")
WRONG_SRC = ("Die Kinder spielen mit ihren Freunden im Garten.", "Watoto wanacheza bustanini pamoja na marafiki zao leo.")


def tiny_sentence_encoder(folder: Path, texts: list[str]) -> Path:
    """A 2-layer BERT with a WordPiece vocabulary trained on `texts`, mean pooling and normalisation."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, decoders, models as tok_models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(tok_models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=300, special_tokens=special,
                                                                   show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=128))
    hf_dir = folder / "hf"
    bert.save_pretrained(hf_dir)
    fast.save_pretrained(hf_dir)
    transformer = models.Transformer(str(hf_dir), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, models.Pooling(32, "mean"), models.Normalize()],
                                device="cpu")
    out = folder / "st"
    model.save(str(out))
    return out
