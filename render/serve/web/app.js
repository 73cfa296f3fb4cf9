// The page is a thin client of the JSON API (see /openapi.json): no build step, nothing loaded from elsewhere.
'use strict';

const $ = (sel) => document.querySelector(sel);
const FINAL = new Set(['done', 'failed']);
const state = {options: null, files: new Map(), viewing: null, previewTimer: null, previewSeq: 0, references: []};

function message(text) {
  const p = document.createElement('p');
  p.textContent = text;
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = '×';
  close.title = 'dismiss';
  close.onclick = () => p.remove();
  p.prepend(close);
  $('#messages').append(p);
}

async function detail(response) {
  // The server's one-line reason ({"detail": "..."}), else the HTTP status.
  try {
    const body = await response.json();
    if (typeof body.detail === 'string') return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join('; ');
  } catch (e) { /* not JSON */ }
  return `${response.status} ${response.statusText}`;
}

function humanSize(n) {
  for (const unit of ['bytes', 'KB', 'MB', 'GB']) {
    if (n < 1000 || unit === 'GB') return unit === 'bytes' ? `${n} bytes` : `${n.toPrecision(3)} ${unit}`;
    n /= 1000;
  }
}

function duration(s) {
  if (s == null || !isFinite(s)) return '';
  s = Math.round(s);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

// ---- settings, built from GET /api/options (what the renderer takes today)
function control(kind, opt) {
  const label = document.createElement('label');
  label.title = opt.help || '';
  const id = `set-${kind}-${opt.name}`;
  label.append(opt.name.replace(/_/g, ' '));
  let input;
  if (opt.choices) {
    input = document.createElement('select');
    for (const c of opt.choices) input.append(new Option(c, c, false, c === opt.default));
  } else if (opt.type === 'bool') {
    input = document.createElement('input');
    input.type = 'checkbox';
    input.checked = !!opt.default;
  } else {
    input = document.createElement('input');
    const ranged = opt.type === 'int' && opt.min != null && opt.max != null && opt.max - opt.min <= 200;
    input.type = ranged ? 'range' : (opt.type === 'int' || opt.type === 'float') ? 'number' : 'text';
    if (opt.min != null) input.min = opt.min;
    if (opt.max != null) input.max = opt.max;
    if (opt.type === 'float') input.step = 'any';
    if (opt.default != null) input.value = opt.default; else input.placeholder = 'default';
    if (ranged) {
      const out = document.createElement('output');
      out.textContent = input.value;
      input.addEventListener('input', () => { out.textContent = input.value; });
      label.append(input, out);
    }
  }
  input.id = id;
  input.dataset.kind = kind;
  input.dataset.name = opt.name;
  if (!label.contains(input)) label.append(input);
  return label;
}

function buildSettings(options) {
  const box = $('#settings-kinds');
  box.textContent = '';
  const titles = {photo: 'Photos', gif: 'GIFs', film: 'Films'};
  for (const [kind, opts] of Object.entries(options.settings)) {
    const fs = document.createElement('fieldset');
    const legend = document.createElement('legend');
    legend.textContent = titles[kind] || kind;
    fs.append(legend);
    for (const opt of opts) fs.append(control(kind, opt));
    box.append(fs);
  }
  const rf = options.settings.photo.find((o) => o.name === 'render_factor');
  if (rf) {
    const slider = $('#rf');
    slider.min = rf.min; slider.max = Math.min(rf.max, 64); slider.value = rf.default;
    showRf();
  }
}

function settingsFields(form, overrides = {}) {
  // Every setting, kind-prefixed (photo.render_factor, film.bs, ...): the server applies those of the kind it finds.
  for (const input of document.querySelectorAll('#settings-kinds [data-kind]')) {
    const key = `${input.dataset.kind}.${input.dataset.name}`;
    const value = input.type === 'checkbox' ? String(input.checked) : input.value;
    if (value !== '') form.append(key, key in overrides ? overrides[key] : value);
  }
}

// ---- colour references sent with films (the server ignores them with photos and GIFs)
function addReferences(files) {
  for (const file of files) {
    const li = document.createElement('li');
    li.className = 'reference';
    const img = document.createElement('img');
    img.src = URL.createObjectURL(file);
    img.alt = file.name;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = file.name;
    const frame = document.createElement('input');
    frame.type = 'text';
    frame.className = 'reference-frame';
    frame.placeholder = 'frame (120) or time (4.5s)';
    frame.title = 'the frame this picture colours: a frame number or a time; empty: the frame number or time in its name, else the frame it resembles most';
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Remove';
    const entry = {file, frame, li};
    remove.onclick = () => {
      URL.revokeObjectURL(img.src);
      li.remove();
      state.references = state.references.filter((r) => r !== entry);
    };
    li.append(img, name, frame, remove);
    $('#references').append(li);
    state.references.push(entry);
  }
}

// ---- uploads (XMLHttpRequest for upload progress on big films)
function upload(file, overrides) {
  const form = new FormData();
  form.append('file', file, file.name);
  settingsFields(form, overrides);
  for (const r of state.references) {
    form.append('reference', r.file, r.file.name);
    form.append('reference_frame', r.frame.value);
  }
  const row = pendingRow(file.name);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/jobs');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) row.querySelector('.stats').textContent = `uploading ${Math.round(100 * e.loaded / e.total)} %`;
    };
    xhr.onload = () => {
      row.remove();
      if (xhr.status === 201) {
        state.files.set(xhr.response.id, file);
        showJob(xhr.response);
        resolve(xhr.response);
      } else {
        const d = xhr.response && xhr.response.detail;
        message(typeof d === 'string' ? d : `${file.name}: upload refused (${xhr.status})`);
        resolve(null);
      }
    };
    xhr.onerror = () => { row.remove(); message(`${file.name}: the upload did not reach the server`); resolve(null); };
    xhr.send(form);
  });
}

async function uploadAll(files) {
  for (const file of files) {
    const job = await upload(file);
    if (job && (job.kind === 'photo' || job.kind === 'gif')) view(job.id);
  }
}

// ---- the before/after viewer with its render-factor slider (POST /api/preview)
function showRf() {
  const v = $('#rf').value;
  $('#rf-value').textContent = v;
  $('#rf-full').textContent = v;
}

function view(id) {
  const file = state.files.get(id);
  const job = jobs.get(id);
  if (!file || !job) return;
  state.viewing = id;
  $('#viewer').hidden = false;
  $('#viewer-name').textContent = job.name;
  const before = $('#before');
  if (before.src.startsWith('blob:')) URL.revokeObjectURL(before.src);
  before.src = URL.createObjectURL(file);
  preview();
}

async function preview() {
  if (!state.viewing) return;
  const seq = ++state.previewSeq;
  const rf = $('#rf').value;
  const form = new FormData();
  form.append('job', state.viewing);
  form.append('render_factor', rf);
  $('#preview-status').textContent = 'rendering preview…';
  let response;
  try {
    response = await fetch('/api/preview', {method: 'POST', body: form});
  } catch (e) {
    $('#preview-status').textContent = '';
    message('the preview did not reach the server');
    return;
  }
  if (seq !== state.previewSeq) return; // a newer slider position is on its way
  if (!response.ok) {
    $('#preview-status').textContent = '';
    message(await detail(response));
    return;
  }
  const blob = await response.blob();
  const after = $('#after');
  if (after.src.startsWith('blob:')) URL.revokeObjectURL(after.src);
  after.src = URL.createObjectURL(blob);
  after.dataset.renderFactor = rf;
  $('#rf-shown').textContent = rf;
  $('#preview-status').textContent = '';
}

// ---- the results list, kept up to date by polling GET /api/jobs/{id}
const jobs = new Map();

function pendingRow(name) {
  const li = document.createElement('li');
  li.className = 'job';
  li.dataset.state = 'uploading';
  li.innerHTML = '<span class="name"></span><span class="kind"></span><span class="stats"></span>';
  li.querySelector('.name').textContent = name;
  $('#jobs').append(li);
  $('#no-jobs').hidden = true;
  return li;
}

function rowFor(job) {
  let li = document.getElementById(`job-${job.id}`);
  if (li) return li;
  li = document.createElement('li');
  li.className = 'job';
  li.id = `job-${job.id}`;
  li.dataset.id = job.id;
  li.innerHTML = '<span class="name"></span><span class="kind"></span><progress max="1" value="0"></progress>' +
    '<span class="actions"><a class="download button" hidden>Download</a><button type="button" class="remove">Remove</button></span>' +
    '<span class="state"></span><span class="stats"></span>';
  li.querySelector('.remove').onclick = () => removeJob(job.id);
  $('#jobs').append(li);
  $('#no-jobs').hidden = true;
  return li;
}

function showJob(job) {
  jobs.set(job.id, job);
  const li = rowFor(job);
  li.dataset.state = job.state;
  li.dataset.frames = job.frames_done;
  const name = li.querySelector('.name');
  name.textContent = job.name;
  if (state.files.has(job.id) && job.kind !== 'film' && !name.onclick) {
    name.style.cursor = 'pointer';
    name.title = 'show before / after';
    name.onclick = () => view(job.id);
  }
  li.querySelector('.kind').textContent = job.kind;
  const bar = li.querySelector('progress');
  bar.max = job.frames_total || 1;
  bar.value = job.frames_done;
  li.querySelector('.state').textContent = job.state;
  const stats = [];
  if (job.kind !== 'photo') stats.push(`${job.frames_done} / ${job.frames_total} frames`);
  if (job.state === 'running' && job.fps) stats.push(`${job.fps.toFixed(1)} frames/s`);
  if (job.state === 'running' && job.eta_s != null) stats.push(`${duration(job.eta_s)} left`);
  if (job.settings && job.settings.render_factor) stats.push(`render factor ${job.settings.render_factor}`);
  if (job.references && job.references.length) {
    stats.push(job.references.map((r) => `${r.name} at ${r.frame == null ? 'the frame most alike' : `frame ${r.frame}`}`).join(', '));
  }
  li.querySelector('.stats').textContent = stats.join(' · ');
  const link = li.querySelector('.download');
  if (job.state === 'done') {
    link.href = job.result_url;
    link.download = job.download_name;
    link.hidden = false;
  }
  let err = li.querySelector('.error');
  if (job.error && !err) {
    err = document.createElement('span');
    err.className = 'error';
    li.append(err);
  }
  if (err) err.textContent = job.error || '';
}

async function removeJob(id) {
  const response = await fetch(`/api/jobs/${id}`, {method: 'DELETE'});
  if (!response.ok && response.status !== 404) { message(await detail(response)); return; }
  const li = document.getElementById(`job-${id}`);
  if (li) li.remove();
  jobs.delete(id);
  state.files.delete(id);
  if (state.viewing === id) { state.viewing = null; $('#viewer').hidden = true; }
  $('#no-jobs').hidden = jobs.size > 0;
}

async function poll() {
  for (const job of [...jobs.values()]) {
    if (FINAL.has(job.state)) continue;
    try {
      const response = await fetch(`/api/jobs/${job.id}`);
      if (response.ok) showJob(await response.json());
      else if (response.status === 404) { // removed by another page or a script
        jobs.delete(job.id);
        const li = document.getElementById(`job-${job.id}`);
        if (li) li.remove();
      }
    } catch (e) { /* the server may be restarting; try again */ }
  }
  setTimeout(poll, 500);
}

// ---- start
async function start() {
  try {
    const response = await fetch('/api/options');
    state.options = await response.json();
  } catch (e) {
    message('the server does not answer; is `deoldify-like serve` still running?');
    return;
  }
  const about = state.options.model_info || {};
  const details = [about.arch, about.promoted_from && `from ${about.promoted_from}`, about.saved_at && `saved ${about.saved_at.slice(0, 10)}`];
  $('#model-line').textContent = `Model: ${state.options.model}` + (details.some(Boolean) ? ` (${details.filter(Boolean).join(', ')})` : '');
  $('#limit-line').textContent = `Up to ${humanSize(state.options.max_upload)} per file. The type is read from the content, not the name.`;
  buildSettings(state.options);
  const listed = await (await fetch('/api/jobs')).json();
  for (const job of listed) showJob(job);
  poll();
}

const drop = $('#drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  uploadAll([...e.dataTransfer.files]);
});
$('#file-input').addEventListener('change', (e) => { uploadAll([...e.target.files]); e.target.value = ''; });
$('#reference-input').addEventListener('change', (e) => { addReferences([...e.target.files]); e.target.value = ''; });
$('#rf').addEventListener('input', () => {
  showRf();
  clearTimeout(state.previewTimer);
  state.previewTimer = setTimeout(preview, 250);
});
$('#render-full').addEventListener('click', () => {
  const file = state.files.get(state.viewing);
  if (file) upload(file, {'photo.render_factor': $('#rf').value, 'gif.render_factor': $('#rf').value});
});
start();
