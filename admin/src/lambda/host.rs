//! The function host: each function's instances (worker processes), the scheduling of
//! invocations onto them, and their lifecycle (cold start, timeout, crash, update, reap, stop).
//!
//! # Architecture
//! 1. An invocation is a [`Pending`]: payload, request id, and two one-shot channels, `started`
//!    (an instance took it: the timeout starts now) and `reply` (the outcome).
//! 2. [`dispatch`] hands it to an idle instance (one parked in `invocation/next`, most recently
//!    used first, so the warmest process answers); else, below the function's concurrency limit,
//!    it starts an instance (cold start) and queues the invocation; else it queues it, up to
//!    `limit × LAMBDA_QUEUE_PER_INSTANCE_MAX`; past that: 429. Instances take queued work first when
//!    they ask for the next invocation.
//! 3. [`invoke`] (the caller's side) waits for `started` (bounded: queue wait), then for `reply`
//!    within the function's `Timeout`; on timeout it kills the instance's process group and
//!    answers Lambda's timeout error. The next invocation starts a fresh instance.
//! 4. Each instance has a supervisor task: when the process exits (crash, kill, init error) it
//!    fails the invocation in flight (`Runtime.ExitError`) or, if the process never got to its
//!    first `next`, the oldest queued one (the init error), kills what is left of the process
//!    group, and starts a replacement if invocations still wait.
//!
//! Invariants: every lock here is a `std::sync::Mutex` held for a few field updates, never across
//! an `.await`, always in the order pool → instance state. Every wait is bounded (queue wait,
//! `Timeout`, `LAMBDA_INIT_TIMEOUT_MS`). An instance runs one invocation at a time, as on AWS.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::HeaderValue;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use portico_shared::limits::{
    LAMBDA_INIT_TIMEOUT_MS, LAMBDA_LOG_LINE_MAX_BYTES, LAMBDA_QUEUE_PER_INSTANCE_MAX,
    LAMBDA_QUEUE_WAIT_MIN_MS,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::oneshot;

use super::records::{Runtime, StoredFunction};
use super::{runtime_api, LambdaError};

/// What every function shares with the host.
#[derive(Debug)]
pub(crate) struct HostShared {
    pub(crate) region: String,
    pub(crate) account: String,
    /// Set at shutdown: no instance starts any more.
    pub(crate) stopping: AtomicBool,
    /// Instance ids, for logs and log stream names.
    next_instance: AtomicU64,
    /// A per-process random prefix for log stream names.
    id_seed: u64,
}

/// One function: its current settings and its instances.
#[derive(Debug)]
pub(crate) struct Function {
    /// For logs, the environment and the directory.
    pub(crate) name: Arc<str>,
    /// `Lambda-Runtime-Invoked-Function-Arn` and error messages.
    pub(crate) arn: Arc<str>,
    /// Settings, instances and queue: the one lock of a function's scheduling.
    pub(crate) pool: Mutex<Pool>,
    /// `Event` invocations accepted and not finished.
    pub(crate) events_in_flight: AtomicUsize,
    /// Region, account, ids and the shutdown flag.
    pub(crate) host: Arc<HostShared>,
}

/// How instances of one generation of a function run: immutable; a code or configuration change
/// makes a new one and retires the instances of the old.
#[derive(Debug)]
pub(crate) struct Spec {
    /// Bumped by code and configuration updates; an instance of an older one is stale.
    pub(crate) generation: u64,
    /// The configuration as stored and answered.
    pub(crate) stored: StoredFunction,
    /// The unpacked code (`LAMBDA_TASK_ROOT`, the working directory).
    pub(crate) task_root: PathBuf,
    /// `Timeout`: the caller's bound once an instance took the invocation.
    pub(crate) timeout: Duration,
    /// Instances that may run at once: the reserved concurrency, else the host's default.
    pub(crate) limit: usize,
}

#[derive(Debug)]
pub(crate) struct Pool {
    /// What new instances run.
    pub(crate) spec: Arc<Spec>,
    /// Every live instance (starting, idle, busy), by id.
    instances: HashMap<u64, Arc<Instance>>,
    /// Instances waiting in `invocation/next`, oldest first.
    idle: Vec<Parked>,
    /// Invocations waiting for an instance, oldest first.
    queue: VecDeque<Pending>,
    /// The function was deleted: nothing is dispatched any more.
    deleted: bool,
}

/// An instance parked in `invocation/next`.
#[derive(Debug)]
struct Parked {
    instance: Arc<Instance>,
    /// Wakes the instance's `next` long poll with its invocation.
    deliver: oneshot::Sender<Pending>,
    /// Idle since: for the reaper.
    since: Instant,
}

/// One invocation on its way to an instance.
#[derive(Debug)]
pub(crate) struct Pending {
    /// `Lambda-Runtime-Aws-Request-Id`, `x-amzn-RequestId`.
    pub(crate) request_id: Arc<str>,
    /// The event, moved from the `Invoke` body to the `next` response without a copy.
    pub(crate) payload: Bytes,
    /// `Lambda-Runtime-Client-Context` (the decoded `X-Amz-Client-Context`).
    pub(crate) client_context: Option<HeaderValue>,
    /// Fired when an instance takes it: the caller starts the `Timeout` clock and learns whom
    /// to kill if it runs out.
    pub(crate) started: oneshot::Sender<Arc<Instance>>,
    /// The outcome (also an init failure or a refusal while queued).
    pub(crate) reply: oneshot::Sender<Result<Outcome, LambdaError>>,
}

/// An invocation handed to the runtime by `invocation/next`.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) request_id: Arc<str>,
    pub(crate) payload: Bytes,
    pub(crate) client_context: Option<HeaderValue>,
    /// `Lambda-Runtime-Deadline-Ms`: epoch ms.
    pub(crate) deadline_ms: u64,
}

/// What the function answered.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The runtime posted a response.
    Response(Bytes),
    /// A function error (`X-Amz-Function-Error: Unhandled`): the runtime's error document, or
    /// one Portico wrote (timeout, exit, oversized response, init failure).
    FunctionError(Bytes),
}

/// One worker process and its Runtime API listener.
#[derive(Debug)]
pub(crate) struct Instance {
    /// For logs.
    pub(crate) id: u64,
    /// Whose pool it is in.
    pub(crate) function: Arc<Function>,
    /// The generation it runs.
    pub(crate) spec: Arc<Spec>,
    /// The process (and process group) id.
    pid: i32,
    pub(crate) state: Mutex<InstanceState>,
}

#[derive(Debug, Default)]
pub(crate) struct InstanceState {
    /// The invocation it runs, answered by the runtime's `response`/`error` or by the exit.
    pub(crate) in_flight: Option<InFlight>,
    /// The runtime asked for its first invocation: init succeeded.
    pub(crate) initialized: bool,
    /// What the runtime posted to `init/error`.
    pub(crate) init_error: Option<Bytes>,
    /// Portico stopped it on purpose (reap, update, delete, shutdown): its exit is not an error
    /// to report.
    pub(crate) retired: bool,
}

/// The invocation an instance is running.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) request_id: Arc<str>,
    pub(crate) reply: oneshot::Sender<Result<Outcome, LambdaError>>,
}

// === impl HostShared ===

impl HostShared {
    pub(crate) fn new(region: String, account: String) -> HostShared {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        HostShared {
            region,
            account,
            stopping: AtomicBool::new(false),
            next_instance: AtomicU64::new(1),
            id_seed: h.finish(),
        }
    }

    /// A fresh request id in UUID shape.
    pub(crate) fn request_id(&self) -> Arc<str> {
        crate::ids::request_id().into()
    }
}

// === impl Function ===

impl Function {
    pub(crate) fn new(host: Arc<HostShared>, spec: Spec) -> Function {
        let name: Arc<str> = spec.stored.configuration.function_name.as_str().into();
        Function {
            arn: spec.stored.configuration.function_arn.as_str().into(),
            name,
            pool: Mutex::new(Pool {
                spec: Arc::new(spec),
                instances: HashMap::new(),
                idle: Vec::new(),
                queue: VecDeque::new(),
                deleted: false,
            }),
            events_in_flight: AtomicUsize::new(0),
            host,
        }
    }

    pub(crate) fn spec(&self) -> Arc<Spec> {
        Arc::clone(&lock(&self.pool).spec)
    }

    /// Installs new settings. With `restart`, running instances are retired (idle ones now,
    /// busy ones when they ask for their next invocation), so the next invocations run the new
    /// code or environment; without, only the concurrency limit changes.
    pub(crate) fn replace_spec(&self, spec: Spec, restart: bool) {
        let mut pool = lock(&self.pool);
        let limit = spec.limit;
        pool.spec = Arc::new(spec);
        let retire: Vec<Parked> = if restart {
            std::mem::take(&mut pool.idle)
        } else {
            let excess = pool.instances.len().saturating_sub(limit);
            let n = excess.min(pool.idle.len());
            pool.idle.drain(..n).collect()
        };
        drop(pool);
        for p in retire {
            p.instance.retire();
        }
    }

    /// Marks the function deleted, stops every instance with `sig` and fails the queued
    /// invocations.
    pub(crate) fn shut(&self, error: impl Fn() -> LambdaError, sig: Signal) {
        let mut pool = lock(&self.pool);
        pool.deleted = true;
        let instances: Vec<Arc<Instance>> = pool.instances.values().cloned().collect();
        pool.idle.clear();
        let queued = std::mem::take(&mut pool.queue);
        drop(pool);
        for p in queued {
            let _ = p.reply.send(Err(error()));
        }
        for i in instances {
            i.retire_with(sig);
        }
    }

    /// Stops instances idle for longer than `idle`.
    pub(crate) fn reap(&self, idle: Duration) {
        let mut pool = lock(&self.pool);
        let (old, keep): (Vec<Parked>, Vec<Parked>) = std::mem::take(&mut pool.idle)
            .into_iter()
            .partition(|p| p.since.elapsed() >= idle);
        pool.idle = keep;
        drop(pool);
        for p in old {
            tracing::info!(function = %self.name, instance = p.instance.id, "idle instance stopped");
            p.instance.retire();
        }
    }

    /// Live instances' process group ids (for the shutdown wait).
    pub(crate) fn live_instances(&self) -> Vec<Arc<Instance>> {
        lock(&self.pool).instances.values().cloned().collect()
    }

    pub(crate) fn instance_count(&self) -> usize {
        lock(&self.pool).instances.len()
    }
}

// === impl Instance ===

impl Instance {
    /// Stops the process group on purpose (SIGKILL): its exit fails only an invocation in
    /// flight.
    pub(crate) fn retire(&self) {
        self.retire_with(Signal::SIGKILL);
    }

    /// Stops the process group on purpose with `sig` (SIGTERM at shutdown, for a grace).
    pub(crate) fn retire_with(&self, sig: Signal) {
        lock(&self.state).retired = true;
        self.signal(sig);
    }

    /// Sends `sig` to the instance's whole process group.
    pub(crate) fn signal(&self, sig: Signal) {
        if let Err(e) = killpg(Pid::from_raw(self.pid), sig) {
            if e != nix::errno::Errno::ESRCH {
                tracing::warn!(function = %self.function.name, instance = self.id, error = %e,
                    "could not signal instance");
            }
        }
    }

    /// Takes the invocation in flight if it is `request_id`.
    pub(crate) fn take_in_flight(&self, request_id: &str) -> Option<InFlight> {
        let mut st = lock(&self.state);
        match &st.in_flight {
            Some(f) if &*f.request_id == request_id => st.in_flight.take(),
            _ => None,
        }
    }

    /// Waits for the next invocation for this instance (the `invocation/next` long poll).
    /// `None`: the instance is stale (retired, deleted, replaced by an update) and was stopped.
    pub(crate) async fn next(self: &Arc<Self>) -> Option<Delivered> {
        loop {
            let waiting = {
                let mut pool = lock(&self.function.pool);
                let stale = pool.deleted || pool.spec.generation != self.spec.generation;
                {
                    let mut st = lock(&self.state);
                    if stale || st.retired {
                        drop(st);
                        drop(pool);
                        self.retire();
                        return None;
                    }
                    st.initialized = true;
                    if let Some(f) = st.in_flight.take() {
                        // Asked for more work without answering: the invocation failed.
                        let _ = f.reply.send(Ok(Outcome::FunctionError(error_doc(
                            "Runtime.NoResponse",
                            &format!(
                                "RequestId: {} Error: the runtime asked for the next invocation \
                                 without answering this one",
                                f.request_id
                            ),
                        ))));
                    }
                }
                let mut now = None;
                while let Some(p) = pool.queue.pop_front() {
                    if !p.started.is_closed() {
                        now = Some(p);
                        break;
                    }
                }
                match now {
                    Some(p) => Ok(p),
                    None => {
                        let (tx, rx) = oneshot::channel();
                        pool.idle.push(Parked {
                            instance: Arc::clone(self),
                            deliver: tx,
                            since: Instant::now(),
                        });
                        Err(rx)
                    }
                }
            };
            let p = match waiting {
                Ok(p) => p,
                Err(rx) => match rx.await {
                    Ok(p) => p,
                    // Unparked without work: reaped, deleted or shutting down.
                    Err(_) => {
                        self.retire();
                        return None;
                    }
                },
            };
            if p.started.is_closed() {
                continue; // the caller gave up while it waited
            }
            let deadline_ms = now_ms() + u64::try_from(self.spec.timeout.as_millis()).unwrap_or(0);
            let Pending {
                request_id,
                payload,
                client_context,
                started,
                reply,
            } = p;
            lock(&self.state).in_flight = Some(InFlight {
                request_id: Arc::clone(&request_id),
                reply,
            });
            if started.send(Arc::clone(self)).is_err() {
                lock(&self.state).in_flight = None;
                continue;
            }
            return Some(Delivered {
                request_id,
                payload,
                client_context,
                deadline_ms,
            });
        }
    }

    /// The caller's timeout fired: drop the invocation and kill the process group (the next
    /// invocation cold-starts a fresh instance).
    pub(crate) fn time_out(&self) {
        let mut st = lock(&self.state);
        st.in_flight = None;
        st.retired = true;
        drop(st);
        self.signal(Signal::SIGKILL);
    }
}

// === dispatch and invoke ===

/// Hands `p` to an idle instance, or starts one, or queues it; `Err` when throttled.
pub(crate) fn dispatch(function: &Arc<Function>, mut p: Pending) -> Result<(), LambdaError> {
    let mut pool = lock(&function.pool);
    if pool.deleted {
        return Err(LambdaError::not_found(&function.arn));
    }
    while let Some(parked) = pool.idle.pop() {
        match parked.deliver.send(p) {
            Ok(()) => return Ok(()),
            Err(back) => p = back,
        }
    }
    let limit = pool.spec.limit;
    if limit == 0 {
        return Err(LambdaError::TooManyRequests {
            reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
        });
    }
    if pool.instances.len() < limit {
        if let Err(message) = start_instance(function, &mut pool) {
            let _ = p.reply.send(Ok(Outcome::FunctionError(error_doc(
                "Runtime.InvalidEntrypoint",
                &format!("RequestId: {} Error: {message}", p.request_id),
            ))));
            return Ok(());
        }
    } else if pool.queue.len() >= limit.saturating_mul(LAMBDA_QUEUE_PER_INSTANCE_MAX) {
        return Err(LambdaError::TooManyRequests {
            reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
        });
    }
    pool.queue.push_back(p);
    Ok(())
}

/// An invocation accepted by [`submit`]: its outcome is awaited with [`Ticket::outcome`].
#[derive(Debug)]
pub(crate) struct Ticket {
    function: Arc<Function>,
    request_id: Arc<str>,
    started: oneshot::Receiver<Arc<Instance>>,
    reply: oneshot::Receiver<Result<Outcome, LambdaError>>,
    /// How long it may wait for an instance.
    queue_wait: Duration,
}

/// Dispatches one invocation: `Err` at once when the function is throttled (so an `Event`
/// invocation is refused before its 202, as on AWS).
pub(crate) fn submit(
    function: &Arc<Function>,
    payload: Bytes,
    client_context: Option<HeaderValue>,
    request_id: Arc<str>,
) -> Result<Ticket, LambdaError> {
    let (started_tx, started) = oneshot::channel();
    let (reply_tx, reply) = oneshot::channel();
    let queue_wait = function
        .spec()
        .timeout
        .max(Duration::from_millis(LAMBDA_QUEUE_WAIT_MIN_MS));
    dispatch(
        function,
        Pending {
            request_id: Arc::clone(&request_id),
            payload,
            client_context,
            started: started_tx,
            reply: reply_tx,
        },
    )?;
    Ok(Ticket {
        function: Arc::clone(function),
        request_id,
        started,
        reply,
        queue_wait,
    })
}

// === impl Ticket ===

impl Ticket {
    /// Waits for an instance (bounded by the queue wait), then for the outcome within the
    /// function's `Timeout`; on timeout the instance is killed and Lambda's timeout error is
    /// the outcome.
    pub(crate) async fn outcome(self) -> Result<Outcome, LambdaError> {
        let Ticket {
            function,
            request_id,
            started,
            mut reply,
            queue_wait,
        } = self;
        let instance = tokio::select! {
            biased;
            r = &mut reply => return r.unwrap_or_else(|_| Err(lost())),
            s = started => match s {
                Ok(i) => i,
                Err(_) => return reply.await.unwrap_or_else(|_| Err(lost())),
            },
            () = tokio::time::sleep(queue_wait) => {
                return Err(LambdaError::TooManyRequests {
                    reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
                })
            }
        };
        match tokio::time::timeout(instance.spec.timeout, &mut reply).await {
            Ok(r) => r.unwrap_or_else(|_| Err(lost())),
            Err(_) => {
                tracing::info!(function = %function.name, instance = instance.id,
                    request_id = %request_id, "invocation timed out; instance stopped");
                instance.time_out();
                Ok(Outcome::FunctionError(error_doc(
                    "Sandbox.Timedout",
                    &format!(
                        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                        instance.spec.timeout.as_secs_f64()
                    ),
                )))
            }
        }
    }
}

fn lost() -> LambdaError {
    LambdaError::Service("the invocation was dropped by its instance".into())
}

/// A function error document as Lambda writes its own (`errorType`, `errorMessage`).
pub(crate) fn error_doc(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

// === instances ===

/// Starts one instance of `function` (pool held): binds its Runtime API, spawns the process in
/// its own process group, starts its supervisor. `Err` says why the process could not start.
fn start_instance(function: &Arc<Function>, pool: &mut Pool) -> Result<(), String> {
    if function.host.stopping.load(Ordering::Acquire) {
        return Err("the gateway is shutting down".into());
    }
    let spec = Arc::clone(&pool.spec);
    let id = function.host.next_instance.fetch_add(1, Ordering::Relaxed);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("Runtime API listener: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("Runtime API listener: {e}"))?;
    let listener =
        tokio::net::TcpListener::from_std(listener).map_err(|e| format!("Runtime API: {e}"))?;
    let mut cmd = command(function, &spec, addr, id)?;
    let mut child = cmd.spawn().map_err(|e| match spec.runtime() {
        Runtime::Provided => format!(
            "Couldn't find valid bootstrap(s): [{}/bootstrap] ({e})",
            spec.task_root.display()
        ),
        Runtime::Python => format!("could not start python3: {e}"),
    })?;
    let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
        return Err("the process exited at once".into());
    };
    let instance = Arc::new(Instance {
        id,
        function: Arc::clone(function),
        spec,
        pid,
        state: Mutex::new(InstanceState::default()),
    });
    pool.instances.insert(id, Arc::clone(&instance));
    if let Some(out) = child.stdout.take() {
        tokio::spawn(pump(Arc::clone(&function.name), id, "stdout", out));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(pump(Arc::clone(&function.name), id, "stderr", err));
    }
    let server = tokio::spawn(runtime_api::serve(listener, Arc::clone(&instance)));
    tokio::spawn(supervise(instance, child, server));
    tracing::info!(function = %function.name, instance = id, pid, runtime_api = %addr,
        "instance started");
    Ok(())
}

/// The process of one instance, with the environment AWS gives a function.
fn command(
    function: &Function,
    spec: &Spec,
    runtime_api: std::net::SocketAddr,
    id: u64,
) -> Result<tokio::process::Command, String> {
    let conf = &spec.stored.configuration;
    let root = spec.task_root.to_string_lossy().into_owned();
    let mut cmd = match spec.runtime() {
        Runtime::Provided => tokio::process::Command::new(spec.task_root.join("bootstrap")),
        Runtime::Python => {
            let mut c = tokio::process::Command::new("python3");
            c.args(["-m", "awslambdaric", &conf.handler]);
            c
        }
    };
    cmd.env_clear();
    // Only what finds programs and the user's Python: never the gateway's own secrets
    // (PORTICO_*, AWS_* credentials).
    for key in [
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "PYENV_ROOT",
        "PYENV_VERSION",
        "VIRTUAL_ENV",
    ] {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    let day = crate::ids::iso8601(crate::ids::now_secs())[..10].replace('-', "/");
    cmd.env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &*function.name)
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            conf.memory_size.to_string(),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", function.name),
        )
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!(
                "{day}/[$LATEST]{:032x}",
                crate::ids::splitmix(function.host.id_seed ^ id)
            ),
        )
        .env("AWS_REGION", &function.host.region)
        .env("AWS_DEFAULT_REGION", &function.host.region)
        .env("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", conf.runtime))
        .env("_HANDLER", &conf.handler)
        .env("LAMBDA_TASK_ROOT", &root)
        .env("LAMBDA_RUNTIME_DIR", &root)
        .env("TZ", ":UTC");
    if spec.runtime() == Runtime::Python {
        cmd.env("PYTHONPATH", &root).env("PYTHONUNBUFFERED", "1");
    }
    cmd.envs(&conf.environment.variables)
        .current_dir(&spec.task_root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    Ok(cmd)
}

/// Waits for the process to exit (killing it if init takes too long), then settles what it
/// leaves behind.
async fn supervise(
    instance: Arc<Instance>,
    mut child: tokio::process::Child,
    server: tokio::task::JoinHandle<()>,
) {
    let init = tokio::time::sleep(Duration::from_millis(LAMBDA_INIT_TIMEOUT_MS));
    tokio::pin!(init);
    let status = loop {
        tokio::select! {
            s = child.wait() => break s,
            () = &mut init, if !init.is_elapsed() => {
                let mut st = lock(&instance.state);
                if !st.initialized && !st.retired {
                    st.init_error = Some(error_doc(
                        "Sandbox.Timedout",
                        &format!("Error: init timed out after {:.2} seconds",
                            Duration::from_millis(LAMBDA_INIT_TIMEOUT_MS).as_secs_f64()),
                    ));
                    drop(st);
                    instance.signal(Signal::SIGKILL);
                }
            }
        }
    };
    // Whatever the runtime left running in its group goes with it.
    instance.signal(Signal::SIGKILL);
    server.abort();
    let exit = match &status {
        Ok(s) => describe(*s),
        Err(e) => format!("wait failed: {e}"),
    };
    let function = &instance.function;
    let mut pool = lock(&function.pool);
    pool.instances.remove(&instance.id);
    pool.idle.retain(|p| p.instance.id != instance.id);
    let (flight, initialized, init_error, retired) = {
        let mut st = lock(&instance.state);
        (
            st.in_flight.take(),
            st.initialized,
            st.init_error.take(),
            st.retired,
        )
    };
    if let Some(f) = flight {
        let _ = f.reply.send(Ok(Outcome::FunctionError(error_doc(
            "Runtime.ExitError",
            &format!(
                "RequestId: {} Error: Runtime exited with error: {exit}",
                f.request_id
            ),
        ))));
    } else if !initialized && (!retired || init_error.is_some()) {
        // Init failed: the oldest waiting invocation gets the error (as on AWS, where the
        // invocation that caused the cold start gets it).
        let body = init_error.unwrap_or_else(|| {
            error_doc(
                "Runtime.ExitError",
                &format!("Error: Runtime exited during init: {exit}"),
            )
        });
        while let Some(p) = pool.queue.pop_front() {
            if !p.started.is_closed() {
                let _ = p.reply.send(Ok(Outcome::FunctionError(body)));
                break;
            }
        }
    }
    // Invocations still waiting and no instance left to take them: start a replacement.
    let waiting = pool.queue.iter().any(|p| !p.started.is_closed());
    if waiting
        && !pool.deleted
        && pool.idle.is_empty()
        && pool.instances.len() < pool.spec.limit
        && !function.host.stopping.load(Ordering::Acquire)
    {
        if let Err(e) = start_instance(function, &mut pool) {
            tracing::warn!(function = %function.name, error = %e, "replacement instance failed");
        }
    }
    drop(pool);
    tracing::info!(function = %function.name, instance = instance.id, status = %exit,
        "instance exited");
}

fn describe(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(9)) => "signal: killed".into(),
        (None, Some(sig)) => format!("signal: {sig}"),
        (None, None) => "unknown".into(),
    }
}

/// Forwards a process's output to the log, one event per line, lines cut at
/// `LAMBDA_LOG_LINE_MAX_BYTES`.
async fn pump(
    function: Arc<str>,
    instance: u64,
    stream: &'static str,
    mut r: impl AsyncRead + Unpin,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut cut = false;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                emit(&function, instance, stream, &line, cut);
                line.clear();
                cut = false;
            } else if line.len() < LAMBDA_LOG_LINE_MAX_BYTES {
                line.push(b);
            } else {
                cut = true;
            }
        }
    }
    if !line.is_empty() {
        emit(&function, instance, stream, &line, cut);
    }
}

fn emit(function: &str, instance: u64, stream: &str, line: &[u8], cut: bool) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    tracing::info!(target: "portico::lambda", function = %function, instance, stream = %stream, truncated = cut,
        "{text}");
}

// === impl Spec ===

impl Spec {
    pub(crate) fn runtime(&self) -> Runtime {
        Runtime::parse(&self.stored.configuration.runtime).unwrap_or(Runtime::Provided)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
