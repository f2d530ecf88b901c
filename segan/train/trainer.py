"""One Accelerate training loop for every method.

Per step: each phase of the method whose turn it is (the critic every step, the generator every
`n_critic`, a parser on its own mask stream every `data.parser_every`) computes its loss under
autocast on a batch of its data stream, back-propagates it (over `grad_accum` micro-batches,
gradients synchronised only on the last) and steps its optimiser; then the EMA generator
follows once. Checkpoints (segan.train.checkpoint: networks, optimisers, scaler, every
process's generators, EMA and the step, in safetensors and JSON) are rotated to the last k;
`run.resume=latest` (or `segan train --resume RUN`) continues exactly. The run folder holds
`config.yaml`, `metrics.jsonl`, `samples/`, `checkpoints/` and the final `model/`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import time
from pathlib import Path

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.state import AcceleratorState
from accelerate.utils import ProjectConfiguration, set_seed
from PIL import Image
from torch import nn

from segan.train import checkpoint as ckpt
from segan.train.checkpoint import (
    CheckpointError,
    checkpoint_step,
    checkpoints,
    latest_checkpoint,
)
from segan.train.config import ConfigError, TrainConfig, check_resumable, load_config
from segan.train.data import check_data, make_source
from segan.train.losses import finite_or_raise
from segan.train.methods import Step, Task, make_task
from segan.train.publish import describe_hardware, hardware_record, push, save_model


class TrainState:
    """The step counter and the loss sums of the current log interval, checkpointed with the
    rest so that a resumed run logs exactly what an uninterrupted one does."""

    def __init__(self) -> None:
        self.step = 0
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, terms: dict[str, float]) -> None:
        for k, v in terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, float]:
        """Each term's mean over the steps since the last log record; starts a new interval."""
        out = {k: self.sums[k] / self.counts[k] for k in self.sums}
        self.sums, self.counts = {}, {}
        return out

    def state_dict(self) -> dict:
        return {"step": self.step, "sums": dict(self.sums), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self.sums = dict(state.get("sums", {}))
        self.counts = dict(state.get("counts", {}))


class EMA(nn.Module):
    """An exponential moving average of a network's parameters (buffers copied).

    The decay warms up as min(decay, (1 + n) / (10 + n)) over the first updates n, so that a
    short run publishes an average of what it trained rather than mostly its initial weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        n = int(self.updates)
        decay = min(self.decay, (1 + n) / (10 + n))
        for avg, p in zip(self.model.parameters(), model.parameters(), strict=True):
            avg.lerp_(p.detach().to(avg.dtype), 1.0 - decay)
        for avg, b in zip(self.model.buffers(), model.buffers(), strict=True):
            avg.copy_(b)
        self.updates += 1


def lr_factor(step: int, config: TrainConfig) -> float:
    """Learning-rate multiplier at `step`: warm-up, then linear decay (with warm restarts) /
    poly / constant."""
    o = config.optim
    factor = 1.0
    if o.warmup and step < o.warmup:
        factor = (step + 1) / o.warmup
    if o.schedule == "linear":
        cycles = [*o.restarts, [o.decay_start, o.steps]]
        start, end = next((c for c in cycles if step < c[1]), cycles[-1])
        if step >= start:
            factor *= max(0.0, 1.0 - (step - start) / max(end - start, 1))
    elif o.schedule == "poly":
        factor *= (1.0 - step / max(o.steps, 1)) ** 0.9
    return factor


def _make_optimizer(
    groups: list[dict], config: TrainConfig, kind: str | None = None
) -> torch.optim.Optimizer:
    o = config.optim
    for g in groups:
        g["initial_lr"] = g["lr"]
    if (kind or o.optimizer) == "sgd":
        return torch.optim.SGD(
            groups, lr=groups[0]["lr"], momentum=o.momentum, weight_decay=o.weight_decay
        )
    return torch.optim.Adam(
        groups, lr=groups[0]["lr"], betas=tuple(o.betas), weight_decay=o.weight_decay
    )


class Trainer:
    """Runs one config: build, (resume), loop, publish."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.task: Task = make_task(config)
        # config errors surface before any work
        check_data(config.data, self.task)
        self.resume_from = _resume_point(config)
        self.run_dir = Path(config.run.output_dir)
        ddp = DistributedDataParallelKwargs(find_unused_parameters=self.task.find_unused_parameters)
        # Accelerate keeps one process-wide state and refuses a second Accelerator with other
        # settings; a fresh Trainer (a notebook, a test, a sweep) starts from its own config.
        # The process group (PartialState) is kept.
        AcceleratorState._reset_state(reset_partial_state=False)
        self.accelerator = Accelerator(
            # On a machine without an accelerator, Accelerate only sets up a multi-process
            # (gloo) run under torchrun when told it is a CPU run.
            cpu=config.run.cpu or not torch.accelerator.is_available(),
            mixed_precision=config.run.mixed_precision,
            project_config=ProjectConfiguration(project_dir=str(self.run_dir)),
            kwargs_handlers=[ddp],
        )
        acc = self.accelerator
        slow = emulated_precision(config.run.mixed_precision, acc.device)
        if slow and acc.is_main_process:
            print(f"warning: {slow}", file=sys.stderr)
        set_seed(config.run.seed)  # identical initial weights on every process
        try:
            nets = self.task.build()
        except ConfigError:
            raise
        except (ValueError, TypeError) as err:
            raise ConfigError(f"cannot build the {config.method} networks: {err}") from None
        self.names = list(nets)
        groups = self.task.param_groups(nets)
        optimizers = {
            k: _make_optimizer(v, config, self.task.optimizer_kind(k)) for k, v in groups.items()
        }
        published = self.task.published(nets)
        self.ema = EMA(nets[published], config.optim.ema) if config.optim.ema > 0 else None
        prepared = acc.prepare(*nets.values(), *optimizers.values())
        self.nets = dict(zip(self.names, prepared[: len(nets)], strict=True))
        self.optimizers = dict(zip(optimizers, prepared[len(nets) :], strict=True))
        for net in self.nets.values():  # a model's train() may keep parts frozen (seghgan's
            net.train()  # parser batch norm): new modules are in training mode without it
        self.published_role = published
        if self.ema is not None:
            self.ema.to(acc.device)
        self.state = TrainState()
        place = (config.optim.grad_accum, acc.process_index, acc.num_processes, acc.device)
        self.source = make_source(config.data, config.optim.batch_size, *place)
        # every phase reads its own stream (Phase.stream); each is a pure function of the step
        self.sources = {"main": self.source}
        for name, (data, batch_size) in self.task.streams().items():
            self.sources[name] = make_source(data, batch_size, *place)
        set_seed(config.run.seed, device_specific=True)  # different noise on each process

    # --- the loop ------------------------------------------------------------------------
    def resume(self) -> None:
        if self.resume_from is not None:
            self.load_checkpoint(self.resume_from)
            if self.accelerator.is_main_process:
                self._drop_metrics_after(self.state.step)
        elif self.config.run.resume == "auto" and self.accelerator.is_main_process:
            print(f"no checkpoint in {self.run_dir / 'checkpoints'}; starting from step 0")

    def load_checkpoint(self, folder: Path) -> None:
        """Every piece of training state from a checkpoint folder (see segan.train.checkpoint);
        a file that is not safetensors or JSON, or that does not fit, stops with its name."""
        acc = self.accelerator
        state = ckpt.check_folder(folder)
        for role, net in self.nets.items():
            where = folder / "networks" / f"{role}.safetensors"
            ckpt.load_strict(acc.unwrap_model(net), ckpt.read_network(folder, role), where)
        for name, optimizer in self.optimizers.items():
            try:
                optimizer.load_state_dict(ckpt.read_optimizer(folder, name))
            except (ValueError, KeyError, RuntimeError) as err:
                raise CheckpointError(
                    f"{folder / 'optimizers' / name}.*: does not fit this run's optimiser ({err})"
                ) from None
        if self.ema is not None:
            ckpt.load_strict(self.ema, ckpt.read_ema(folder), folder / "ema.safetensors")
        scaler = getattr(acc, "scaler", None)
        saved = ckpt.read_scaler(folder)
        if scaler is not None and saved is not None:
            scaler.load_state_dict(saved)
        rng = ckpt.read_rng(folder, acc.process_index)
        if rng is None:
            print(
                f"{folder}: no generator state for process {acc.process_index} (the run was "
                "saved with fewer processes); its random draws differ from here on",
                file=sys.stderr,
            )
        else:
            ckpt.restore_rng(*rng)
        self.state.load_state_dict(state)

    def _drop_metrics_after(self, step: int) -> None:
        """Forget log records a crashed session wrote past the checkpoint it resumes from."""
        log = self.run_dir / "metrics.jsonl"
        if not log.is_file():
            return
        lines = log.read_text().splitlines()
        logged = [(line, _logged_step(line)) for line in lines]
        kept = [line for line, at in logged if at is not None and at <= step]
        if len(kept) != len(lines):
            log.write_text("".join(line + "\n" for line in kept))

    def _reduce(self, flag: torch.Tensor) -> torch.Tensor | None:
        """Sum a flag over processes (None on a single process: nothing to agree on)."""
        if self.accelerator.num_processes == 1:
            return flag
        return self.accelerator.reduce(flag, reduction="sum")

    def _out_of_time(self, started: float) -> bool:
        """Whether any process has trained past run.time_limit minutes (all agree)."""
        limit = self.config.run.time_limit
        if limit is None:
            return False
        over = time.monotonic() - started > 60.0 * limit
        return float(self._reduce(torch.tensor(float(over), device=self.accelerator.device))) > 0

    def _scale(self):
        scaler = getattr(self.accelerator, "scaler", None)
        if scaler is None or not scaler.is_enabled():
            return None, 1.0
        return scaler.scale, 1.0 / scaler.get_scale()

    def _phase(self, phase, step: int, terms: dict) -> None:
        acc, config = self.accelerator, self.config
        optimizers = [self.optimizers[name] for name in (phase.name, *phase.also)]
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = group["initial_lr"] * lr_factor(step, config)
            # Another phase's backward also reaches these parameters (the generator's loss
            # runs through the critic): start from clean gradients.
            optimizer.zero_grad(set_to_none=True)
        accum = config.optim.grad_accum
        scale, inv_scale = self._scale()
        source = self.sources[phase.stream]
        for micro in range(accum):
            batch = source.batch(step, micro)
            if phase.stream == "main":
                batch = self.task.prepare(batch, source.generator(step, micro))
            sync = micro == accum - 1
            contexts = [] if sync else [acc.no_sync(n) for n in self.nets.values()]
            with contextlib.ExitStack() as stack:
                for c in contexts:
                    stack.enter_context(c)
                with acc.autocast():
                    s = Step(self.nets, batch, self.task.weights, step, scale, inv_scale)
                    loss, phase_terms = phase.loss(s)
                named = {**phase_terms, f"{phase.name} total": loss.detach()}
                finite_or_raise(named, step, self._reduce)
                acc.backward(loss / accum)
            for k, v in phase_terms.items():
                terms[k] = terms.get(k, 0.0) + float(v) / accum
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    def train_step(self, step: int) -> dict[str, float]:
        """Every phase whose turn it is at `step`, then the EMA; returns the loss terms."""
        terms: dict[str, float] = {}
        moved = False  # whether a phase changed the published network (not the critic)
        critic_only = step < self.config.optim.critic_warmup
        for phase in self.task.phases:
            if critic_only and phase.name != "d":
                continue
            if step % phase.every == 0:
                self._phase(phase, step, terms)
                moved = moved or phase.name != "d"
        if moved and self.ema is not None:
            self.ema.update(self.accelerator.unwrap_model(self.nets[self.published_role]))
        self.state.step = step + 1
        return terms

    def fit(self) -> Path:
        """Train from the start (or the resumed step) to the end, then publish the model."""
        acc, config = self.accelerator, self.config
        self.resume()
        if acc.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.yaml").write_text(config.to_yaml())
            record = self.run_dir / "hardware.txt"
            previous = record.read_text() if record.is_file() else ""
            record.write_text(hardware_record(previous, self.hardware, self.state.step))
        start = self.state.step
        progress = _progress(start, config, acc.is_main_process)
        window: dict[str, float] = {}
        t_window, n_window = time.perf_counter(), 0
        fixed = self.source.fixed(4) if acc.is_main_process else None
        started = time.monotonic()
        try:
            for step in range(start, config.end_step):
                terms = self.train_step(step)
                n_window += config.optim.batch_size * config.optim.grad_accum * acc.num_processes
                self.state.add(terms)
                for k, v in terms.items():  # the progress bar shows smoothed terms
                    window[k] = v if k not in window else 0.9 * window[k] + 0.1 * v
                if (step + 1) % config.run.log_every == 0 or step + 1 == config.optim.steps:
                    rate = n_window / max(time.perf_counter() - t_window, 1e-9)
                    self._log(step + 1, self.state.means(), rate)
                    t_window, n_window = time.perf_counter(), 0
                    if progress is not None:
                        progress.set_postfix(
                            {"img/s": f"{rate:.1f}", **{k: f"{v:.3g}" for k, v in window.items()}}
                        )
                if progress is not None:
                    progress.update(1)
                every = config.run.sample_every
                if every and (step + 1) % every == 0 and acc.is_main_process:
                    self._samples(step + 1, fixed)
                every = config.run.checkpoint_every
                if every and (step + 1) % every == 0:
                    self.save_checkpoint()
                if (step + 1) % config.run.log_every == 0 and self._out_of_time(started):
                    if acc.is_main_process:
                        print(
                            f"run.time_limit={config.run.time_limit} min reached at step "
                            f"{step + 1}; resume with: segan train --resume {self.run_dir}",
                            flush=True,
                        )
                    break
        except KeyboardInterrupt:
            if acc.is_main_process:
                last = latest_checkpoint(self.run_dir)
                print(
                    f"\ninterrupted at step {self.state.step}. "
                    + (f"Last checkpoint: {last}. " if last else "No checkpoint yet. ")
                    + f"Resume with: segan train --resume {self.run_dir}",
                    file=sys.stderr,
                )
            raise
        except FloatingPointError as err:
            if acc.is_main_process:
                print(f"\nstopped: {err}. No checkpoint was written after it.", file=sys.stderr)
            raise
        finally:
            if progress is not None:
                progress.close()
        if config.run.checkpoint_every and latest_checkpoint(self.run_dir) != self._folder():
            self.save_checkpoint()
        acc.wait_for_everyone()
        model_dir = self.run_dir / "model"
        if acc.is_main_process:
            if fixed is not None and config.run.sample_every:
                self._samples(self.state.step, fixed)
            save_model(
                self.published_model(),
                model_dir,
                config,
                self.task,
                self.state.step,
                acc.num_processes,
                self.hardware,
                getattr(self, "last_metrics", {}),
            )
            if config.run.push_to_hub:
                push(model_dir, config.run.push_to_hub)
        acc.wait_for_everyone()
        return model_dir

    def _folder(self) -> Path:
        return ckpt.checkpoint_folder(self.run_dir, self.state.step)

    def save_checkpoint(self) -> None:
        """Save the whole training state at the current step; keep the last k. The folder
        appears only when complete; a failed write (a full disk) removes what it wrote, keeps
        the earlier checkpoints and stops the run with the folder and the reason."""
        acc = self.accelerator
        main = acc.is_main_process
        final = self._folder()
        partial = ckpt.partial_folder(final)
        if main:
            ckpt.discard(partial)
        acc.wait_for_everyone()
        error: OSError | None = None
        try:
            if main:
                nets = {role: acc.unwrap_model(net) for role, net in self.nets.items()}
                scaler = getattr(acc, "scaler", None)
                ckpt.write_main(partial, nets, self.optimizers, self.ema, scaler)
            ckpt.write_rng(partial, acc.process_index)
        except OSError as err:
            error = err
        self._stop_if_unsaved(error, partial, final)  # every process: all wrote, or none goes on
        if main:
            try:
                ckpt.finish(partial, final, self.state.state_dict())
            except OSError as err:
                error = err
        self._stop_if_unsaved(error, partial, final)
        if main:
            for old in checkpoints(self.run_dir)[: -self.config.run.keep_checkpoints]:
                ckpt.remove(old)
        acc.wait_for_everyone()

    def _stop_if_unsaved(self, error: OSError | None, partial: Path, final: Path) -> None:
        """Agree over processes whether a checkpoint write failed; if so, remove it and stop."""
        acc = self.accelerator
        flag = torch.tensor([0.0 if error is None else 1.0], device=acc.device)
        if float(self._reduce(flag)) == 0:
            return
        if acc.is_main_process:
            ckpt.discard(partial)
        last = latest_checkpoint(self.run_dir)
        reason = (error.strerror or str(error)) if error is not None else "see the other process"
        raise CheckpointError(
            f"cannot write checkpoint {final}: {reason}."
            + (f" The last complete checkpoint, {last}, is intact." if last else "")
        )

    # --- reports -------------------------------------------------------------------------
    @property
    def hardware(self) -> str:
        """One line on what this run trains on (hardware.txt, the model card)."""
        return describe_hardware(self.accelerator, self.config.run.mixed_precision)

    def published_model(self) -> nn.Module:
        """The network a run publishes: the EMA copy when there is one."""
        if self.ema is not None:
            return self.ema.model
        return self.accelerator.unwrap_model(self.nets[self.published_role])

    def _log(self, step: int, terms: dict[str, float], rate: float) -> None:
        if not self.accelerator.is_main_process:
            return
        lrs = {k: o.param_groups[0]["lr"] for k, o in self.optimizers.items()}
        record = {"step": step, "time": time.time(), "images_per_s": rate, "lr": lrs, **terms}
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        self.last_metrics = record

    @torch.no_grad()
    def _samples(self, step: int, fixed: dict) -> None:
        model = self.published_model()
        was = model.training
        model.eval()
        with self.accelerator.autocast():
            picture = self.task.samples(model, fixed)
        model.train(was)
        if picture is not None:
            out = self.run_dir / "samples"
            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(picture).save(out / f"step_{step:07d}.png")


def emulated_precision(precision: str, device: torch.device) -> str | None:
    """Why autocast at `precision` runs emulated (far slower than fp32) on this CPU, or None:
    bf16 needs avx512_bf16 or AMX for native CPU kernels."""
    if precision != "bf16" or device.type != "cpu":
        return None
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    if native:
        return None
    return (
        "run.mixed_precision=bf16 on a CPU without avx512_bf16 or AMX runs emulated, many "
        "times slower than fp32 (run.mixed_precision=no)"
    )


def _resume_point(config: TrainConfig) -> Path | None:
    """The checkpoint `run.resume` names, checked before any work: "latest" needs one in the
    run folder (a mistyped folder must not start over), and a run's own config.yaml must agree
    on the networks."""
    target = config.run.resume
    if not target:
        return None
    run_dir = Path(config.run.output_dir)
    if target in ("latest", "auto"):
        path = latest_checkpoint(run_dir)
        if path is None and target == "latest":
            raise ConfigError(
                f"run.resume=latest: no checkpoint in {run_dir / 'checkpoints'}; a fresh run "
                "starts without run.resume (run.resume=auto continues only if there is one)"
            )
    else:
        path = Path(target)
        if not path.is_dir():
            raise ConfigError(f"run.resume: checkpoint {path} does not exist")
    saved = run_dir / "config.yaml"
    if path is not None and saved.is_file():
        check_resumable(config, load_config(saved), saved)
    return path


def _logged_step(line: str) -> int | None:
    """The step of a metrics.jsonl line, or None for a line a killed run left half-written."""
    try:
        return int(json.loads(line)["step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _progress(start: int, config: TrainConfig, main: bool):
    if not (main and config.run.progress):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.optim.steps, initial=start, desc=config.method, dynamic_ncols=True)


def train(config: TrainConfig) -> Path:
    """Train a config end to end; returns the model folder."""
    return Trainer(config).fit()


__all__ = [
    "EMA",
    "TrainState",
    "Trainer",
    "checkpoint_step",
    "checkpoints",
    "latest_checkpoint",
    "lr_factor",
    "train",
]
