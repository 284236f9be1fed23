// A stand-in for `docker compose` / `podman compose` in tests, where no
// container engine runs and no image registry is reachable. It keeps what a
// real engine would of each project (its services and their states) in
// $FAKE_COMPOSE_DIR/projects/<project>.json, logs every call to
// $FAKE_COMPOSE_DIR/calls.log, and answers the commands the edgex plugin
// runs as Compose v2 does: `compose version`, `up --detach
// --remove-orphans`, `ps --all --format json` (one JSON object per line),
// `exec -T <service> cat <path>` (a running service's file, as
// $FAKE_COMPOSE_DIR/files/<project>/<service><path> holds it),
// `run ... --entrypoint /bin/sh <service> -c 'rm -rf <path>/*'` (empties
// the project folder bound there; `up` creates those folders) and
// `down --volumes --remove-orphans`. A service without `restart`
// exits 0 (a one-shot job); FAKE_COMPOSE_CRASH names services that keep
// restarting; FAKE_COMPOSE_BROKEN=1 makes every command fail.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const dir = process.env.FAKE_COMPOSE_DIR;
if (!dir) {
  process.stderr.write('FAKE_COMPOSE_DIR is not set\n');
  process.exit(2);
}
const args = process.argv.slice(2);
appendFileSync(path.join(dir, 'calls.log'), `${path.basename(process.argv[1] ?? '')} ${args.join(' ')}\n`);
if (process.env.FAKE_COMPOSE_BROKEN === '1') {
  process.stderr.write('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n');
  process.exit(1);
}
if (args[0] !== 'compose') {
  process.stderr.write(`unknown command: ${args[0]}\n`);
  process.exit(1);
}
const rest = args.slice(1);
let project;
let file;
const positional = [];
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '-p') project = rest[++i];
  else if (rest[i] === '-f') file = rest[++i];
  else positional.push(rest[i]);
}
const projects = path.join(dir, 'projects');
mkdirSync(projects, { recursive: true });
const stateFile = project ? path.join(projects, `${project}.json`) : undefined;
const crash = new Set((process.env.FAKE_COMPOSE_CRASH ?? '').split(',').filter(Boolean));

switch (positional[0]) {
  case 'version':
    process.stdout.write('Docker Compose version v2.33.1 (test stand-in)\n');
    break;
  case 'up': {
    if (!stateFile || !file) fail('up needs -p and -f');
    const doc = parse(readFileSync(file, 'utf8'));
    if (doc?.name !== project) fail(`the file's name '${doc?.name}' is not the project '${project}'`);
    const services = {};
    for (const [name, svc] of Object.entries(doc.services ?? {})) {
      if (typeof svc.image !== 'string') fail(`service "${name}" has neither an image nor a build context specified`);
      // Binds of the project's own folders: created when missing (bind.create_host_path), as the engine does.
      const binds = [];
      for (const v of svc.volumes ?? []) {
        if (v.type !== 'bind' || !String(v.source).startsWith('./')) continue;
        const source = path.resolve(path.dirname(file), v.source);
        mkdirSync(source, { recursive: true });
        binds.push({ source, target: v.target });
      }
      services[name] = { image: svc.image, state: crash.has(name) ? 'restarting' : svc.restart === undefined ? 'exited' : 'running', exitCode: crash.has(name) ? 1 : 0, binds };
    }
    writeFileSync(stateFile, JSON.stringify({ services, volumes: Object.keys(doc.volumes ?? {}), networks: Object.keys(doc.networks ?? {}) }));
    break;
  }
  case 'ps': {
    if (!stateFile) fail('ps needs -p');
    if (!existsSync(stateFile)) break;
    const { services } = JSON.parse(readFileSync(stateFile, 'utf8'));
    for (const [name, s] of Object.entries(services)) {
      process.stdout.write(`${JSON.stringify({ Name: `${project}-${name}-1`, Project: project, Service: name, Image: s.image, State: s.state, ExitCode: s.exitCode })}\n`);
    }
    break;
  }
  case 'exec': {
    // exec -T <service> cat <path>: the file as $FAKE_COMPOSE_DIR/files/<project>/<service><path> holds it.
    if (!stateFile) fail('exec needs -p');
    const [, tty, service, cmd, file] = positional;
    if (tty !== '-T' || cmd !== 'cat' || !file) fail(`the stand-in runs only exec -T <service> cat <path>, not: ${positional.join(' ')}`);
    const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : { services: {} };
    if (state.services[service]?.state !== 'running') fail(`service "${service}" is not running`);
    const src = path.join(dir, 'files', project, service, file);
    if (!existsSync(src)) fail(`cat: can't open '${file}': No such file or directory`);
    process.stdout.write(readFileSync(src));
    break;
  }
  case 'run': {
    // run --rm --no-deps -T --entrypoint /bin/sh <service> -c 'rm -rf <path>/*': empties the host folder bound at <path>.
    if (!stateFile || !file) fail('run needs -p and -f');
    const i = positional.indexOf('--entrypoint');
    const service = positional[i + 2];
    const script = positional[i + 4] ?? '';
    const m = /^rm -rf (\S+)\/\*$/.exec(script);
    if (i < 0 || positional[i + 1] !== '/bin/sh' || positional[i + 3] !== '-c' || !m) fail(`the stand-in runs only run ... --entrypoint /bin/sh <service> -c 'rm -rf <path>/*', not: ${positional.join(' ')}`);
    const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : { services: {} };
    const bind = state.services[service]?.binds?.find((b) => b.target === m[1]);
    if (!bind) fail(`no such service: ${service}`);
    for (const f of existsSync(bind.source) ? readdirSync(bind.source) : []) rmSync(path.join(bind.source, f), { recursive: true, force: true });
    break;
  }
  case 'down':
    if (!stateFile) fail('down needs -p');
    rmSync(stateFile, { force: true });
    break;
  default:
    fail(`unknown compose command: ${positional[0]}`);
}

function fail(message) {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}
