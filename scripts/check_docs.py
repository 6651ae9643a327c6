"""Check the offline docs build in headless Chromium: every page loads with the sidebar, each API page documents every
function its module exports, math is typeset (no raw `$…$` left, no KaTeX errors), nothing is fetched from the
network, and every page gets a screenshot (in `_docs/screenshots/`) for a person to look at."""
import sys, re, subprocess, tempfile, importlib, shutil
from html.parser import HTMLParser
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT/'_docs'
CHROME = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
         '--disable-component-update', '--disable-sync', '--hide-scrollbars', '--virtual-time-budget=4000']

def chrome(*args, timeout=120):
    with tempfile.TemporaryDirectory() as prof:
        r = subprocess.run([CHROME, *FLAGS, f'--user-data-dir={prof}', *args], capture_output=True, text=True, timeout=timeout)
    return r.stdout

def exported_names(module):
    "Public names a page must document: the module's `__all__`, minus constants."
    m = importlib.import_module(module)
    return [n for n in getattr(m, '__all__', []) if callable(getattr(m, n, None))]

class ProseText(HTMLParser):
    "The text a reader sees as prose: code, program output, scripts and typeset math left out."
    SKIP_TAGS = {'script', 'style', 'pre', 'code', 'annotation', 'math', 'svg'}
    SKIP_CLASSES = ('katex', 'jp-OutputArea-output', 'jp-InputArea')
    VOID = {'br', 'img', 'hr', 'meta', 'link', 'input', 'col', 'area', 'base', 'source', 'wbr'}
    def __init__(self): super().__init__(); self.stack, self.out = [], []
    def handle_starttag(self, tag, attrs):
        if tag in self.VOID: return
        cls = dict(attrs).get('class') or ''
        skip = tag in self.SKIP_TAGS or any(c in cls.split() for c in self.SKIP_CLASSES) or (self.stack and self.stack[-1])
        self.stack.append(bool(skip))
    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack: self.stack.pop()
    def handle_data(self, data):
        if not (self.stack and self.stack[-1]): self.out.append(data)

RAW_MATH = re.compile(r'\$\$[^$]+\$\$|(?<![\w$\\])\$(?=\S)[^$\n]{1,300}?(?<=\S)\$(?![\w$])')

def raw_math(dom:str) -> list[str]:
    "Pieces of prose that still look like TeX between dollar signs."
    p = ProseText(); p.feed(dom)
    return RAW_MATH.findall(''.join(p.out))

def api_pages() -> dict:
    pages = {}
    from vitlab._modidx import d
    for mod, syms in d['syms'].items():
        if mod == 'vitlab' or not syms: continue
        page = next(iter(syms.values()))[0].split('#')[0]  # nbdev's doc link of the module's first symbol
        pages[page] = exported_names(mod)
    return pages

def check_page(page:str, names:list) -> tuple[list, str]:
    f = DOCS/page
    dom = chrome('--dump-dom', f.as_uri())
    fails = []
    if '<nav id="vitlab-nav">' not in dom: fails.append(f"{page}: no sidebar")
    missing = [n for n in names if f'id="{n.lower()}"' not in dom.lower() and f'>{n}<' not in dom]
    if missing: fails.append(f"{page}: no documentation for {', '.join(missing)}")
    raw = raw_math(dom)
    if raw: fails.append(f"{page}: math left as raw TeX: {', '.join(repr(r[:60]) for r in raw[:3])}")
    errs = re.findall(r'class="katex-error"[^>]*title="([^"]{0,120})', dom)
    if errs: fails.append(f"{page}: KaTeX could not typeset: {errs[:2]}")
    remote = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?://[^"]+)"', dom) + re.findall(r"""import\(\s*["'](https?://[^"']+)""", dom)
    if remote: fails.append(f"{page}: fetches from the network: {remote[:2]}")
    n_math = dom.count('class="katex"')
    png = DOCS/'screenshots'/(page.replace('/', '__').replace('.html', '.png'))
    chrome(f'--screenshot={png}', '--window-size=1280,1400', f.as_uri())
    if not png.exists() or png.stat().st_size < 10_000: fails.append(f"{page}: screenshot failed")
    return fails, f"{page}: {len(dom):,} chars of DOM, {n_math} formulas typeset, {len(names) - len(missing)}/{len(names)} exported functions documented"

def main():
    if CHROME is None: sys.exit("chromium is not installed: run `apt-get install chromium` (make test does this)")
    if not (DOCS/'index.html').exists(): sys.exit(f"{DOCS}/index.html is missing: run `python scripts/build_docs.py` first")
    pages = {p.relative_to(DOCS).as_posix(): [] for p in sorted(DOCS.rglob('*.html')) if 'katex' not in p.parts}
    for page, names in api_pages().items():
        if page not in pages: print(f"{page}: not built"); pages[page] = None
        else: pages[page] = names
    failures = [f"{p}: not built" for p, n in pages.items() if n is None]
    (DOCS/'screenshots').mkdir(exist_ok=True)
    with ThreadPoolExecutor(2) as ex:
        for fails, line in ex.map(lambda kv: check_page(*kv), [(p, n) for p, n in pages.items() if n is not None]):
            print(line); failures += fails
    if failures: sys.exit("docs check failed:\n- " + "\n- ".join(failures))
    print(f"docs check: {len(pages)} pages load in headless Chromium with the sidebar, math typeset offline, every exported "
          f"function documented; screenshots in {DOCS/'screenshots'}")

if __name__ == '__main__': main()
