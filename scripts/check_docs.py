"""Check the offline docs build in headless Chromium: the home page and every API page load, and each page shows
the documentation of every function its module exports. Screenshots are kept for a person to look at."""
import sys, subprocess, tempfile, importlib, shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT/'_docs'
CHROME = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
         '--disable-component-update', '--disable-sync', '--hide-scrollbars']

def chrome(*args, timeout=120):
    with tempfile.TemporaryDirectory() as prof:
        r = subprocess.run([CHROME, *FLAGS, f'--user-data-dir={prof}', *args], capture_output=True, text=True, timeout=timeout)
    return r.stdout

def exported_names(module):
    "Public names a page must document: the module's `__all__`, minus constants."
    m = importlib.import_module(module)
    return [n for n in getattr(m, '__all__', []) if callable(getattr(m, n, None))]

def main():
    if CHROME is None: sys.exit("chromium is not installed: run `apt-get install chromium` (make test does this)")
    pages = {'index.html': [], 'nav.html': []}
    from vitlab._modidx import d
    for mod, syms in d['syms'].items():
        if mod == 'vitlab' or not syms: continue
        page = next(iter(syms.values()))[0].split('#')[0]  # nbdev's doc link of the module's first symbol
        pages[page] = exported_names(mod)
    shots = DOCS/'screenshots'; shots.mkdir(exist_ok=True)
    failures = []
    for page, names in pages.items():
        f = DOCS/page
        if not f.exists(): failures.append(f"{page}: not built"); continue
        dom = chrome('--dump-dom', f.as_uri())
        if '<nav id="vitlab-nav">' not in dom: failures.append(f"{page}: no navigation bar")
        missing = [n for n in names if f'id="{n.lower()}"' not in dom.lower() and f'>{n}<' not in dom]
        if missing: failures.append(f"{page}: no documentation for {', '.join(missing)}")
        print(f"{page}: {len(dom):,} chars of DOM, {len(names) - len(missing)}/{len(names)} exported functions documented")
    for page in ('index.html', 'core.html'):
        png = shots/page.replace('.html', '.png')
        chrome(f'--screenshot={png}', '--window-size=1280,1600', (DOCS/page).as_uri())
        print(f"screenshot: {png}" if png.exists() and png.stat().st_size > 10_000 else f"screenshot of {page} failed")
        if not png.exists(): failures.append(f"{page}: no screenshot")
    if failures: sys.exit("docs check failed:\n- " + "\n- ".join(failures))
    print("docs check: all pages load in headless Chromium and document their exported functions")

if __name__ == '__main__': main()
