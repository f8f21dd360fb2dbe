"""Language codes: one table from ISO 639-3 to ISO 639-1, FLORES-200 and flores_plus tags, and back.

Every script takes language codes from users in whatever form they know (`swh`, `sw`, `swh_Latn`), and
each data source wants its own form (OPUS: 2-letter, HF parallel sets: 3-letter, FLORES: tagged), so
all conversions go through this table.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from .errors import LangAdaptError


@dataclass(frozen=True)
class Language:
    iso3: str  # ISO 639-3 (the individual language where the macrolanguage is ambiguous)
    iso1: str  # ISO 639-1
    flores: str  # FLORES-200 tag (facebook/flores, flores200_dataset/)
    flores_plus: str  # openlanguagedata/flores_plus tag
    name: str


_TABLE = [
    Language("eng", "en", "eng_Latn", "eng_Latn", "English"),
    Language("swh", "sw", "swh_Latn", "swh_Latn", "Swahili"),
    Language("est", "et", "est_Latn", "ekk_Latn", "Estonian"),
    Language("ind", "id", "ind_Latn", "ind_Latn", "Indonesian"),
    Language("tur", "tr", "tur_Latn", "tur_Latn", "Turkish"),
    Language("hin", "hi", "hin_Deva", "hin_Deva", "Hindi"),
    Language("ell", "el", "ell_Grek", "ell_Grek", "Greek"),
    Language("tha", "th", "tha_Thai", "tha_Thai", "Thai"),
    Language("arb", "ar", "arb_Arab", "arb_Arab", "Arabic"),
    Language("deu", "de", "deu_Latn", "deu_Latn", "German"),
    Language("spa", "es", "spa_Latn", "spa_Latn", "Spanish"),
    Language("fra", "fr", "fra_Latn", "fra_Latn", "French"),
    Language("ita", "it", "ita_Latn", "ita_Latn", "Italian"),
    Language("por", "pt", "por_Latn", "por_Latn", "Portuguese"),
    Language("ron", "ro", "ron_Latn", "ron_Latn", "Romanian"),
    Language("rus", "ru", "rus_Cyrl", "rus_Cyrl", "Russian"),
    Language("vie", "vi", "vie_Latn", "vie_Latn", "Vietnamese"),
    Language("zho", "zh", "zho_Hans", "cmn_Hans", "Chinese (Simplified)"),
    Language("jpn", "ja", "jpn_Jpan", "jpn_Jpan", "Japanese"),
    Language("kor", "ko", "kor_Hang", "kor_Hang", "Korean"),
    Language("hat", "ht", "hat_Latn", "hat_Latn", "Haitian Creole"),
    Language("quy", "qu", "quy_Latn", "quy_Latn", "Ayacucho Quechua"),
    Language("tam", "ta", "tam_Taml", "tam_Taml", "Tamil"),
    Language("tel", "te", "tel_Telu", "tel_Telu", "Telugu"),
    Language("eus", "eu", "eus_Latn", "eus_Latn", "Basque"),
    Language("mya", "my", "mya_Mymr", "mya_Mymr", "Burmese"),
    Language("ben", "bn", "ben_Beng", "ben_Beng", "Bengali"),
    Language("urd", "ur", "urd_Arab", "urd_Arab", "Urdu"),
    Language("pes", "fa", "pes_Arab", "pes_Arab", "Persian"),
    Language("heb", "he", "heb_Hebr", "heb_Hebr", "Hebrew"),
    Language("pol", "pl", "pol_Latn", "pol_Latn", "Polish"),
    Language("nld", "nl", "nld_Latn", "nld_Latn", "Dutch"),
    Language("fin", "fi", "fin_Latn", "fin_Latn", "Finnish"),
    Language("hun", "hu", "hun_Latn", "hun_Latn", "Hungarian"),
    Language("ukr", "uk", "ukr_Cyrl", "ukr_Cyrl", "Ukrainian"),
    Language("zsm", "ms", "zsm_Latn", "zsm_Latn", "Malay"),
    Language("tgl", "tl", "tgl_Latn", "fil_Latn", "Tagalog"),
    Language("yor", "yo", "yor_Latn", "yor_Latn", "Yoruba"),
    Language("hau", "ha", "hau_Latn", "hau_Latn", "Hausa"),
    Language("amh", "am", "amh_Ethi", "amh_Ethi", "Amharic"),
    Language("zul", "zu", "zul_Latn", "zul_Latn", "Zulu"),
    Language("kin", "rw", "kin_Latn", "kin_Latn", "Kinyarwanda"),
    Language("som", "so", "som_Latn", "som_Latn", "Somali"),
]

# Other spellings users and datasets use for the same language (macrolanguages, flores_plus tags).
_ALIASES = {
    "swa": "swh", "ekk": "est", "arb": "arb", "ara": "arb", "cmn": "zho", "chi": "zho", "zh-cn": "zho",
    "fas": "pes", "per": "pes", "msa": "zsm", "may": "zsm", "fil": "tgl", "gre": "ell", "ger": "deu",
    "fre": "fra", "qub": "quy", "que": "quy", "ekk_latn": "est", "cmn_hans": "zho", "fil_latn": "tgl",
    "in": "ind",
}

_BY_CODE: dict[str, Language] = {}
for _lang in _TABLE:
    for _code in (_lang.iso3, _lang.iso1, _lang.flores, _lang.flores_plus):
        _BY_CODE.setdefault(_code.lower(), _lang)
for _alias, _target in _ALIASES.items():
    _BY_CODE.setdefault(_alias, _BY_CODE[_target])


def get_language(code: str) -> Language:
    """Look up a language by any of its codes (case-insensitive); unknown codes list the nearest ones."""
    key = code.strip().lower().replace("-", "_") if code else ""
    if key in _BY_CODE:
        return _BY_CODE[key]
    if "_" in key and key.split("_")[0] in _BY_CODE:  # e.g. a script variant like `swh_Arab`
        return _BY_CODE[key.split("_")[0]]
    nearest = difflib.get_close_matches(key, _BY_CODE.keys(), n=5, cutoff=0.5)
    hint = f"; nearest known: {', '.join(nearest)}" if nearest else ""
    raise LangAdaptError(f"unknown language code {code!r}{hint}")


def to_iso3(code: str) -> str:
    return get_language(code).iso3


def to_iso1(code: str) -> str:
    return get_language(code).iso1


def flores_tag(code: str, dataset: str = "flores200") -> str:
    """FLORES tag for `code`; `dataset` is "flores200" (facebook/flores, local files) or "flores_plus".

    A full tag in another script than the table's (`swh_Arab`) is returned as given.
    """
    lang = get_language(code)
    wanted = lang.flores_plus if dataset == "flores_plus" else lang.flores
    if "_" in code and code.lower() not in (lang.flores.lower(), lang.flores_plus.lower()):
        return code
    return wanted


def known_codes() -> list[str]:
    return sorted(lang.iso3 for lang in _TABLE)
