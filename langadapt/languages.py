"""Language codes: one table of every FLORES-200 language, from which each data source's code is derived.

Users give languages in whatever form they know (`swh`, `sw`, `swa`, `swh_Latn`, the original's `zho_trad`);
each source wants its own form: FLORES-200 and Belebele the `xxx_Script` tag, flores_plus its renamed
tags, OPUS and langid ISO 639-1 (ISO 639-3 where none exists), XCOPA ISO 639-1, Tatoeba the ISO 639-3
macrolanguage (`swa`), HF parallel sets 3-letter keys. All of them come from `Language` below.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Optional

from .errors import LangAdaptError

# Every FLORES-200 tag (the 204 of flores200_dataset/), `/iso1` where ISO 639-1 has a code: the values of
# the original corpus builder's table (sensia build_opus_corpus.py THREE_TO_TWO), plus sin/si. The last
# three rows are not FLORES-200 languages but appear in the original's tables (utils/data.py, the builder).
_TABLE = """
ace_Arab ace_Latn acm_Arab/ar acq_Arab/ar aeb_Arab/ar afr_Latn/af ajp_Arab/ar aka_Latn/ak als_Latn/sq
amh_Ethi/am apc_Arab/ar arb_Arab/ar arb_Latn/ar ars_Arab/ar ary_Arab/ar arz_Arab/ar asm_Beng/as ast_Latn
awa_Deva ayr_Latn/ay azb_Arab/az azj_Latn/az bak_Cyrl/ba bam_Latn/bm ban_Latn bel_Cyrl/be bem_Latn ben_Beng/bn
bho_Deva bjn_Arab bjn_Latn bod_Tibt/bo bos_Latn/bs bug_Latn bul_Cyrl/bg cat_Latn/ca ceb_Latn ces_Latn/cs
cjk_Latn ckb_Arab/ku crh_Latn cym_Latn/cy dan_Latn/da deu_Latn/de dik_Latn dyu_Latn dzo_Tibt/dz ell_Grek/el
eng_Latn/en epo_Latn/eo est_Latn/et eus_Latn/eu ewe_Latn/ee fao_Latn/fo fij_Latn/fj fin_Latn/fi fon_Latn
fra_Latn/fr fur_Latn fuv_Latn gaz_Latn/om gla_Latn/gd gle_Latn/ga glg_Latn/gl grn_Latn/gn guj_Gujr/gu
hat_Latn/ht hau_Latn/ha heb_Hebr/he hin_Deva/hi hne_Deva hrv_Latn/hr hun_Latn/hu hye_Armn/hy ibo_Latn/ig
ilo_Latn ind_Latn/id isl_Latn/is ita_Latn/it jav_Latn/jv jpn_Jpan/ja kab_Latn kac_Latn kam_Latn kan_Knda/kn
kas_Arab/ks kas_Deva/ks kat_Geor/ka kaz_Cyrl/kk kbp_Latn kea_Latn khk_Cyrl/mn khm_Khmr/km kik_Latn/ki
kin_Latn/rw kir_Cyrl/ky kmb_Latn kmr_Latn/ku knc_Arab knc_Latn kon_Latn/kg kor_Hang/ko lao_Laoo/lo lij_Latn
lim_Latn/li lin_Latn/ln lit_Latn/lt lmo_Latn ltg_Latn ltz_Latn/lb lua_Latn lug_Latn/lg luo_Latn lus_Latn
lvs_Latn/lv mag_Deva mai_Deva mal_Mlym/ml mar_Deva/mr min_Arab min_Latn mkd_Cyrl/mk mlt_Latn/mt mni_Beng
mos_Latn mri_Latn/mi mya_Mymr/my nld_Latn/nl nno_Latn/nn nob_Latn/nb npi_Deva/ne nso_Latn nus_Latn nya_Latn/ny
oci_Latn/oc ory_Orya/or pag_Latn pan_Guru/pa pap_Latn pbt_Arab/ps pes_Arab/fa plt_Latn/mg pol_Latn/pl
por_Latn/pt prs_Arab/fa quy_Latn/qu ron_Latn/ro run_Latn/rn rus_Cyrl/ru sag_Latn/sg san_Deva/sa sat_Olck
scn_Latn shn_Mymr sin_Sinh/si slk_Latn/sk slv_Latn/sl smo_Latn/sm sna_Latn/sn snd_Arab/sd som_Latn/so
sot_Latn/st spa_Latn/es srd_Latn/sc srp_Cyrl/sr ssw_Latn/ss sun_Latn/su swe_Latn/sv swh_Latn/sw szl_Latn
tam_Taml/ta taq_Latn taq_Tfng tat_Cyrl/tt tel_Telu/te tgk_Cyrl/tg tgl_Latn/tl tha_Thai/th tir_Ethi/ti tpi_Latn
tsn_Latn/tn tso_Latn/ts tuk_Latn/tk tum_Latn tur_Latn/tr twi_Latn tzm_Tfng uig_Arab/ug ukr_Cyrl/uk umb_Latn
urd_Arab/ur uzn_Latn/uz vec_Latn vie_Latn/vi war_Latn wol_Latn/wo xho_Latn/xh ydd_Hebr/yi yor_Latn/yo yue_Hant
zho_Hans/zh zho_Hant/zh zsm_Latn/ms zul_Latn/zu
fry_Latn/fy lat_Latn/la sco_Latn
"""
# A bare 3-letter code of a language with several scripts means this one (else its Latin-script tag).
_DEFAULT_SCRIPT = {"arb": "Arab", "kas": "Arab", "zho": "Hans"}
# ISO 639-1 codes shared by several FLORES varieties mean the standard one.
_ISO1_DEFAULT = {"ar": "arb", "az": "azj", "fa": "pes", "ku": "kmr"}
# ISO 639-3 macrolanguage -> its standard variety in FLORES (the code Tatoeba uses for that variety).
_MACROLANGUAGES = {
    "ara": "arb", "aym": "ayr", "aze": "azj", "din": "dik", "fas": "pes", "ful": "fuv", "kau": "knc", "kur": "kmr",
    "lav": "lvs", "mlg": "plt", "mon": "khk", "msa": "zsm", "nep": "npi", "nor": "nob", "ori": "ory", "orm": "gaz",
    "pus": "pbt", "que": "quy", "sqi": "als", "swa": "swh", "tmh": "taq", "uzb": "uzn", "yid": "ydd",
}
# Other spellings: individual codes of macrolanguages FLORES names by the macro code (Estonian, Chinese),
# ISO 639-2/B and withdrawn ISO 639-1 codes, the original's `zho_trad`, region-tagged Chinese.
_ALIASES = {
    "ekk": "est", "cmn": "zho", "fil": "tgl", "zho_trad": "zho_Hant", "zho_simpl": "zho_Hans",
    "zh_tw": "zho_Hant", "zh_hk": "zho_Hant", "zh_hant": "zho_Hant", "zh_cn": "zho_Hans", "zh_hans": "zho_Hans",
    "alb": "als", "arm": "hye", "baq": "eus", "bur": "mya", "chi": "zho", "cze": "ces", "dut": "nld", "fre": "fra",
    "geo": "kat", "ger": "deu", "gre": "ell", "ice": "isl", "mac": "mkd", "mao": "mri", "may": "zsm", "per": "pes",
    "rum": "ron", "slo": "slk", "tib": "bod", "wel": "cym", "in": "ind", "iw": "heb", "ji": "ydd", "no": "nob",
}
# openlanguagedata/flores_plus renamed these tags.
_FLORES_PLUS = {"est_Latn": "ekk_Latn", "zho_Hans": "cmn_Hans", "zho_Hant": "cmn_Hant", "tgl_Latn": "fil_Latn"}


@dataclass(frozen=True)
class Language:
    flores: str  # FLORES-200 tag (facebook/flores, flores200_dataset/, Belebele)
    iso1: Optional[str]  # ISO 639-1, None where the variety has none
    macro: Optional[str]  # ISO 639-3 macrolanguage this variety is the standard form of, if any

    @property
    def iso3(self) -> str:
        return self.flores.split("_")[0]

    @property
    def script(self) -> str:
        return self.flores.split("_")[1]

    @property
    def flores_plus(self) -> str:
        return _FLORES_PLUS.get(self.flores, self.flores)

    @property
    def opus(self) -> str:
        """OPUS names languages by ISO 639-1 and by ISO 639-3 where there is no 2-letter code."""
        return self.iso1 or self.iso3

    @property
    def langid(self) -> str:
        """The label langid.py gives this language (its labels are ISO 639-1)."""
        return self.opus

    @property
    def tatoeba(self) -> str:
        """Helsinki-NLP/tatoeba_mt names pairs by the macrolanguage (eng-swa, eng-ara)."""
        return self.macro or self.iso3


def _build() -> tuple[list[Language], dict[str, Language]]:
    macro_of = {variety: macro for macro, variety in _MACROLANGUAGES.items()}
    table = []
    for token in _TABLE.split():
        tag, _, iso1 = token.partition("/")
        table.append(Language(tag, iso1 or None, macro_of.get(tag[:3])))
    by_code = {lang.flores.lower(): lang for lang in table}
    by_code.update({lang.flores_plus.lower(): lang for lang in table})
    scripts: dict[str, list[str]] = {}
    for lang in table:
        scripts.setdefault(lang.iso3, []).append(lang.script)
    for lang in table:  # a bare 3-letter code: the listed script, else Latin, else the only one
        own = scripts[lang.iso3]
        if lang.script == _DEFAULT_SCRIPT.get(lang.iso3, "Latn" if "Latn" in own else own[0]):
            by_code[lang.iso3] = lang
    for lang in table:
        if lang.iso1 and lang.iso1 not in by_code and _ISO1_DEFAULT.get(lang.iso1, lang.iso3) == lang.iso3:
            by_code[lang.iso1] = by_code[lang.iso3]
    for macro, variety in _MACROLANGUAGES.items():
        by_code.setdefault(macro, by_code[variety])
    for alias, code in _ALIASES.items():
        by_code[alias] = by_code[code.lower()]
    return table, by_code


_LANGUAGES, _BY_CODE = _build()


def _key(code: str) -> str:
    return code.strip().lower().replace("-", "_") if code else ""


CODE_HINT = "use an ISO 639-1/3 code or a FLORES tag such as swh_Latn"


def get_language(code: str, flag: str = "") -> Language:
    """Look up a language by any of its codes (case-insensitive); unknown codes list the closest ones.

    A tag whose language is known but whose script or region is not a FLORES-200 one (`eng_Latm`, `sw_KE`,
    `swh_Arab`) is refused with that language's tags, rather than failing later at data load. With the
    `flag` that gave the code, the error names it (`--lang swahili: ...`), so the user knows what to change.
    """
    key = _key(code)
    if key in _BY_CODE:
        return _BY_CODE[key]
    base, _, script = key.partition("_")
    if script and base in _BY_CODE:
        tags = [lang.flores for lang in _LANGUAGES if lang.iso3 == _BY_CODE[base].iso3]
        raise LangAdaptError(f"{flag + ' ' if flag else ''}{code}: not a FLORES-200 tag; did you mean "
                             f"{' or '.join(tags)}?")
    raise LangAdaptError(f"{flag} {code}: unknown language code{_closest(key)}; {CODE_HINT}" if flag else
                         f"unknown language code {code!r}{_closest(key)}")


def _closest(key: str) -> str:
    """Codes a name starts with (`swahili` -> swa, sw), then the spellings difflib finds close."""
    prefixes = [key[:n] for n in (3, 2) if len(key) > n and key[:n] in _BY_CODE]
    nearest = list(dict.fromkeys(prefixes + difflib.get_close_matches(key, _BY_CODE.keys(), n=5, cutoff=0.5)))[:5]
    return f"; closest matches: {', '.join(nearest)}" if nearest else ""


def to_iso3(code: str) -> str:
    return get_language(code).iso3


def to_iso1(code: str) -> str:
    lang = get_language(code)
    if lang.iso1 is None:
        raise LangAdaptError(f"language {code!r} ({lang.flores}) has no ISO 639-1 code")
    return lang.iso1


def flores_tag(code: str, dataset: str = "flores200") -> str:
    """FLORES tag for `code`; `dataset` is "flores200" (facebook/flores, local files) or "flores_plus"."""
    lang = get_language(code)
    return lang.flores_plus if dataset == "flores_plus" else lang.flores


def known_codes() -> list[str]:
    """Every FLORES tag of the table."""
    return [lang.flores for lang in _LANGUAGES]
