"""Render resources/icons/ketachart.svg to the PNG sizes, the Windows .ico and the macOS .icns (with Qt).

Run after changing the SVG: `.venv/bin/python scripts/make-icons.py`. The outputs are committed so that a
build never needs this step.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(p)
    p.end()
    return img


def main() -> int:
    _app = QGuiApplication(sys.argv[:1])
    icons = Path(__file__).resolve().parents[1] / "resources" / "icons"
    renderer = QSvgRenderer(str(icons / "ketachart.svg"))
    if not renderer.isValid():
        print("make-icons: the SVG does not render", file=sys.stderr)
        return 1
    for size in SIZES:
        assert render(renderer, size).save(str(icons / f"ketachart-{size}.png"))
    ok_ico = render(renderer, 256).save(str(icons / "ketachart.ico"))
    ok_icns = render(renderer, 512).save(str(icons / "ketachart.icns"))
    print(f"make-icons: {len(SIZES)} PNGs, ico={'ok' if ok_ico else 'no Qt ico plugin'}, "
          f"icns={'ok' if ok_icns else 'no Qt icns plugin'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
