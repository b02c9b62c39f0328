"""The handwriting font globs: the one place both lists of them are defined.

Two lists, on purpose, because their callers have used different ones and changing either
would change what is drawn (the training symbols, the synthetic amounts):

- :data:`SYMBOL_FONT_GLOBS` (:mod:`chequereader.symbols`, the drawn ``$ , . - / *`` training
  symbols): also femkeklaver (hollow digits do not matter for symbols) and DejaVu Sans, and
  the older truetype locations (``dkg-handwriting``, ``truetype/bwht`` ...);
- :data:`HANDWRITING_FONT_GLOBS` (:mod:`chequereader.synth.glyphs`, the digits of synthetic
  amounts): no femkeklaver (its digits are hollow outlines, which no pen writes), no DejaVu,
  and the Debian package locations (``fifthhorseman/dkg*``, ``opentype/bwht`` ...).

:data:`ARABIC_FONT_GLOBS` and :data:`DEVANAGARI_FONT_GLOBS` are the printed fonts the script
check is trained on (:mod:`chequereader.train.script`).

Glob patterns, run at run time, never at import.
"""

from __future__ import annotations

SYMBOL_FONT_GLOBS = (
    "/usr/share/fonts/truetype/dkg-handwriting/*.ttf",
    "/usr/share/fonts/*/breip/*.ttf",
    "/usr/share/fonts/truetype/bwht/*.ttf",
    "/usr/share/fonts/truetype/femkeklaver/*.ttf",
    "/usr/share/fonts/truetype/humor-sans/*.ttf",
    "/usr/share/fonts/truetype/comic-neue/*.ttf",
    "/usr/share/fonts/truetype/kristi/*.ttf",
    "/usr/share/fonts/truetype/dancingscript/*.ttf",
    "/usr/share/fonts/truetype/kaushanscript/*.ttf",
    "/usr/share/fonts/opentype/comic-neue/*.otf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)

HANDWRITING_FONT_GLOBS = (
    "/usr/share/fonts/truetype/fifthhorseman/dkg*.ttf",
    "/usr/share/fonts/truetype/breip/*.ttf",
    "/usr/share/fonts/opentype/bwht/*.otf",
    # (femkeklaver left out: its digits are hollow outlines, which no pen writes)
    "/usr/share/fonts/truetype/humor-sans/*.ttf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-*.otf",
    "/usr/share/fonts/truetype/kristi/*.ttf",
    "/usr/share/fonts/opentype/dancingscript/*.otf",
    "/usr/share/fonts/opentype/kaushanscript/*.otf",
)

#: Arabic fonts (Debian packages fonts-kacst, fonts-kacst-one, fonts-arabeyes,
#: fonts-hosny-amiri, fonts-noto-core). Decorative faces (outlines, shadows, ornaments,
#: seven-segment digits) are left out: no pen writes them.
ARABIC_FONT_GLOBS = (
    "/usr/share/fonts/truetype/kacst/*.ttf",
    "/usr/share/fonts/truetype/kacst-one/*.ttf",
    "/usr/share/fonts/truetype/fonts-arabeyes/*.ttf",
    "/usr/share/fonts/opentype/fonts-hosny-amiri/*.ttf",
    "/usr/share/fonts/truetype/noto/Noto*Arabic-*.ttf",
)
ARABIC_FONT_SKIP = ("KacstArt", "KacstDecorative", "KacstDigital", "KacstPoster", "KacstQurn",
                    "AmiriQuranColored", "ae_Shado", "ae_Metal", "ae_Graph", "ae_Electron",
                    "OldNorth", "OldSouth")
DEVANAGARI_FONT_GLOBS = ("/usr/share/fonts/truetype/noto/Noto*Devanagari-*.ttf",)
