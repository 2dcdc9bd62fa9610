//! A thread with its own small runtime, for backends whose clients are async:
//! the backend traits are synchronous and may be called from async code, where
//! blocking on another runtime is not allowed.

use super::lockfile::StateError;
use std::future::Future;
use std::sync::mpsc;

type Job = Box<dyn FnOnce(&tokio::runtime::Runtime) + Send>;

pub struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    pub fn new(name: &str) -> Result<Worker, StateError> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StateError::Other(e.to_string()))?;
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Ok(job) = inbox.recv() {
                    job(&rt);
                }
            })
            .map_err(|e| StateError::Other(e.to_string()))?;
        Ok(Worker { jobs })
    }

    /// Runs `fut` on the worker's thread and waits for its result.
    pub fn run<T, F>(&self, fut: F) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.jobs
            .send(Box::new(move |rt| {
                let _ = tx.send(rt.block_on(fut));
            }))
            .map_err(|_| StateError::Other("the state backend's worker has stopped".into()))?;
        rx.recv()
            .map_err(|_| StateError::Other("the state backend's worker has stopped".into()))
    }
}
