/**
 * Child process of the fuzzer: runs one CLI invocation per message, in-process, and answers with
 * the exit code and what the CLI printed. Runs in its own process so that a case that blocks (a
 * named pipe opened for reading, an endless loop) can be killed without losing the run.
 */
import { runCli } from '../../src/cli/main.js';
import { END_MARKER, type WorkerReply, type WorkerRequest } from './protocol.js';

process.on('message', (message: WorkerRequest) => {
  let stdoutLength = 0;
  let stderr = '';
  const io = { stdout: (t: string) => (stdoutLength += t.length), stderr: (t: string) => (stderr += t), interactive: false };
  // The marker follows anything onnxruntime wrote natively during the case on the same stream
  // (stderr writes to a pipe are synchronous), so the parent can attribute those lines.
  const reply = (r: WorkerReply): void => {
    process.stderr.write(`${END_MARKER}${message.id}\n`);
    process.send!(r);
  };
  process.chdir(message.cwd);
  runCli(message.argv, io).then(
    (code) => reply({ id: message.id, code, stdoutLength, stderr }),
    (error: unknown) =>
      // runCli itself rejected: an escape from its error handling, reported as such.
      reply({ id: message.id, code: -1, stdoutLength, stderr: `${stderr}runCli rejected: ${String(error)}\n` }),
  );
});
process.send!({ id: -1, code: 0, stdoutLength: 0, stderr: '' } satisfies WorkerReply);
