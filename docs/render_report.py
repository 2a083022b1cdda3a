"""Render a synthvae HTML report to a PNG with headless Chromium (for docs/img/report.png).

    python docs/render_report.py report.html docs/img/report.png [--width 1400 --height 3000]

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Nothing is fetched from the
network: the report embeds its JavaScript, and Chromium runs with background networking,
updates and sync off, in a throw-away profile. The page is given a few seconds of virtual
time so plotly finishes drawing before the screenshot.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def chromium_command(html: Path, png: Path, width: int, height: int, profile: str) -> list[str]:
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        sys.exit("chromium not found; install it with: apt-get install -y chromium")
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--virtual-time-budget=8000", f"--screenshot={png}",
            f"--window-size={width},{height}", html.resolve().as_uri()]


def render(html: Path, png: Path, width: int = 1400, height: int = 3000) -> Path:
    with tempfile.TemporaryDirectory(prefix="synthvae-chromium-") as profile:
        command = chromium_command(html, png.resolve(), width, height, profile)
        subprocess.run(command, check=True, timeout=120, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if not png.is_file():
        sys.exit(f"chromium wrote no screenshot to {png}")
    return png


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args(argv)
    path = render(args.html, args.png, args.width, args.height)
    print(f"{path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
