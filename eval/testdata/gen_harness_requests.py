# Generates eval/testdata/harness_requests.json: what lm-evaluation-harness's own task
# definitions make of Hugging Face schema rows. It renders the harness's YAML templates
# with Jinja2 as lm_eval.utils.apply_template does (StrictUndefined,
# keep_trailing_newline) and runs its hellaswag/winogrande Python preprocessing. Run it in
# a directory holding the harness's task files, named
#   arc_arc_easy.yaml super_glue_boolq_default.yaml lambada_lambada_openai.yaml
#   openbookqa_openbookqa.yaml piqa_piqa.yaml truthfulqa_truthfulqa_mc1.yaml
#   truthfulqa_truthfulqa_mc2.yaml hellaswag_hellaswag.yaml hellaswag_utils.py
#   winogrande_default.yaml winogrande_preprocess_winogrande.py
# (git show HEAD:lm_eval/tasks/<path> of EleutherAI/lm-evaluation-harness at 4e7e0d47,
# 2026-08-21):
#   python3 gen_harness_requests.py /path/to/fixtures/eval harness_requests.json
# For the fixtures' first N items, rewritten into the hub's schemas exactly as
# harnessRows in harness_test.go does (Winogrande's sentence is rebuilt at the word where
# its two contexts differ), only a SHA-256 of the requests is kept (no dataset text is
# copied): each request contributes context, NUL, continuation, SOH in UTF-8. HellaSwag
# rows are random WikiHow-like strings exercising preprocess() and str.capitalize(),
# stored whole with their requests.
import json, ast, sys, types, random, gzip
import yaml
from jinja2 import BaseLoader, Environment, StrictUndefined
env = Environment(loader=BaseLoader, undefined=StrictUndefined, keep_trailing_newline=True)
class L(yaml.SafeLoader): pass
L.add_constructor('!function', lambda l, n: ('FUNC', l.construct_scalar(n)))
def cfg(f): return yaml.load(open(f), Loader=L)
sys.modules['datasets'] = types.SimpleNamespace(Dataset=object)
hs = {}; exec(open('hellaswag_utils.py').read(), hs)
wg = {}; exec(open('winogrande_preprocess_winogrande.py').read(), wg)
def render(t, doc): return env.from_string(t).render(**doc)
def field(spec, doc, kind):
    if isinstance(spec, tuple): return {'text': wg['doc_to_text'], 'choice': wg['doc_to_choice'], 'target': wg['doc_to_target']}[kind](doc)
    if isinstance(spec, (int, list)): return spec
    if spec in doc: return doc[spec]
    s = render(spec, doc)
    if kind == 'choice': return ast.literal_eval(s)
    if kind in ('text', 'target') and s.isdigit(): return ast.literal_eval(s)
    return s
def requests(c, doc):
    text = field(c['doc_to_text'], doc, 'text')
    if c['output_type'] == 'loglikelihood':
        return [[text, field(c['doc_to_target'], doc, 'target')]]
    choices = field(c['doc_to_choice'], doc, 'choice')
    if isinstance(text, int):  # multiple input
        cont = field(c['doc_to_target'], doc, 'target')
        return [[ctx, ' ' + cont] for ctx in choices]
    return [[text, ' ' + ch] for ch in choices]
arc = cfg('arc_arc_easy.yaml'); tq1 = cfg('truthfulqa_truthfulqa_mc1.yaml'); tq2 = dict(tq1); tq2.update(cfg('truthfulqa_truthfulqa_mc2.yaml')); tq2.pop('include', None)
cfgs = {'arc_easy': arc, 'boolq': cfg('super_glue_boolq_default.yaml'), 'lambada_openai': cfg('lambada_lambada_openai.yaml'),
        'openbookqa': cfg('openbookqa_openbookqa.yaml'), 'piqa': cfg('piqa_piqa.yaml'), 'truthfulqa_mc1': tq1, 'truthfulqa_mc2': tq2,
        'hellaswag': cfg('hellaswag_hellaswag.yaml'), 'winogrande': cfg('winogrande_default.yaml')}
import hashlib
F = sys.argv[1].rstrip('/') + '/'
N = 100
def jl(f): return [json.loads(l) for l in open(F + f)]
def digest(task, rows):
    h = hashlib.sha256()
    for row in rows:
        for ctx, cont in requests(cfgs[task], row):
            h.update(ctx.encode() + b'\0' + cont.encode() + b'\1')
    return h.hexdigest()
def arc_rows(f):
    out = []
    for r in jl(f)[:N]:
        labels = 'ABCDE'[:len(r['choices'])]
        out.append({'question': r['query'][len('Question: '):], 'choices': {'text': r['choices'], 'label': list(labels)}, 'answerKey': labels[r['gold']]})
    return out
def boolq_rows():
    out = []
    for r in jl('boolq.jsonl')[:N]:
        p, q = r['query'][len('Passage: '):].split('\nQuestion: ', 1)
        out.append({'passage': p, 'question': q[:-1], 'label': r['gold']})
    return out
def wino_rows():
    out = []
    for r in jl('winogrande.jsonl')[:N]:
        a, b = r['context_options']
        i = 0
        while i < min(len(a), len(b)) and a[i] == b[i]: i += 1
        i = a.rfind(' ', 0, i) + 1
        out.append({'sentence': a[:i] + '_ ' + r['continuation'], 'option1': a[i:], 'option2': b[i:], 'answer': str(r['gold'] + 1)})
    return out
tq = []
for d in json.load(open(F + 'truthfulqa_mc_task.json'))[:N]:
    row = {'question': d['question']}
    for k in ('mc1_targets', 'mc2_targets'):
        row[k] = {'choices': list(d[k].keys()), 'labels': list(d[k].values())}
    tq.append(row)
digests = [
    {'task': 'arc_easy', 'fixture': 'arc_easy.jsonl', 'sha256': digest('arc_easy', arc_rows('arc_easy.jsonl'))},
    {'task': 'arc_easy', 'fixture': 'arc_challenge.jsonl', 'sha256': digest('arc_easy', arc_rows('arc_challenge.jsonl'))},
    {'task': 'boolq', 'fixture': 'boolq.jsonl', 'sha256': digest('boolq', boolq_rows())},
    {'task': 'lambada_openai', 'fixture': 'lambada_openai.jsonl', 'sha256': digest('lambada_openai', [{'text': r['context'] + ' ' + r['continuation']} for r in jl('lambada_openai.jsonl')[:N]])},
    {'task': 'openbookqa', 'fixture': 'openbookqa.jsonl', 'sha256': digest('openbookqa', [{'question_stem': r['query'], 'choices': {'text': r['choices'], 'label': list('ABCD')}, 'answerKey': 'ABCD'[r['gold']]} for r in jl('openbookqa.jsonl')[:N]])},
    {'task': 'piqa', 'fixture': 'piqa.jsonl', 'sha256': digest('piqa', [{'goal': r['query'][len('Question: '):-1], 'sol1': r['choices'][0], 'sol2': r['choices'][1], 'label': r['gold']} for r in jl('piqa.jsonl')[:N]])},
    {'task': 'truthfulqa_mc1', 'fixture': 'truthfulqa_mc_task.json', 'sha256': digest('truthfulqa_mc1', tq)},
    {'task': 'truthfulqa_mc2', 'fixture': 'truthfulqa_mc_task.json', 'sha256': digest('truthfulqa_mc2', tq)},
    {'task': 'winogrande', 'fixture': 'winogrande.jsonl', 'sha256': digest('winogrande', wino_rows())},
]
rnd = random.Random(5)
parts = ['[header]', '[title]', ' [title]', '[step]', '  ', ' ', 'How to', 'GROW Tomatoes', 'a man', 'is', '.', '[substeps]', 'x ]', '[', '\u00c9l', '\u00f1and\u00fa', '\t', ' wait', '\u0130', '\u00df']
hella = []
for k in range(60):
    g = lambda: ''.join(rnd.choice(parts) for _ in range(rnd.randint(0, 8)))
    row = {'activity_label': g() or 'A', 'ctx_a': g(), 'ctx_b': g(), 'endings': [g() or 'e' for _ in range(4)], 'label': str(rnd.randint(0, 3))}
    ctx = row['ctx_a'] + ' ' + row['ctx_b'].capitalize()
    doc = {'query': hs['preprocess'](row['activity_label'] + ': ' + ctx), 'choices': [hs['preprocess'](e) for e in row['endings']], 'gold': int(row['label']), 'label': row['label']}
    hella.append({'row': row, 'requests': requests(cfgs['hellaswag'], doc)})
with open(sys.argv[2], 'w') as out:
    json.dump({'first': N, 'digests': digests, 'hellaswag': hella}, out, ensure_ascii=False, indent=1)
    out.write('\n')
