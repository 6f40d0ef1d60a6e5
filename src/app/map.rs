//! The style map's data: style codes of image files (made by the worker a few at a time, with
//! progress and cancel), which together with the set's reference images give the points of the
//! map and the principal directions of the style panel.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Domain;
use crate::engine::worker::{FileStyle, StyleBatch};

/// A batch of files being encoded.
#[derive(Debug)]
pub struct MapLoading {
    pub tag: u64,
    pub done: usize,
    pub total: usize,
    /// Files that could not be read or encoded so far.
    pub failed: Vec<String>,
    paths: Vec<PathBuf>,
    cancel: Arc<AtomicBool>,
}

/// Style codes of image files for the map.
#[derive(Debug, Default)]
pub struct StyleMap {
    pub files: Vec<FileStyle>,
    pub loading: Option<MapLoading>,
    next_tag: u64,
}

impl StyleMap {
    /// Starts encoding `paths` under `domain`'s style encoder, together with what is left of a
    /// batch in progress (which stops). Files already on the map are not encoded twice.
    pub fn add(&mut self, paths: Vec<PathBuf>, domain: Domain) -> Option<StyleBatch> {
        let mut pending = self.stop();
        for path in paths {
            let known = self.files.iter().any(|f| f.path == path) || pending.contains(&path);
            if !known {
                pending.push(path);
            }
        }
        self.start(pending, domain)
    }

    /// Encodes every file again (another model or direction: the codes came from another
    /// encoder).
    pub fn restart(&mut self, domain: Domain) -> Option<StyleBatch> {
        let mut paths: Vec<PathBuf> = self.files.drain(..).map(|f| f.path).collect();
        paths.extend(self.stop());
        self.start(paths, domain)
    }

    /// Stops the batch in progress; the files done so far stay.
    pub fn cancel(&mut self) {
        self.stop();
    }

    pub fn clear(&mut self) {
        self.stop();
        self.files.clear();
    }

    /// A step of the batch `tag`: its codes join the map. When the batch ends, a summary of
    /// the files that failed, if any.
    pub fn answer(
        &mut self,
        tag: u64,
        styles: Vec<FileStyle>,
        failed: Vec<String>,
        done: usize,
    ) -> Option<String> {
        let loading = self.loading.as_mut().filter(|l| l.tag == tag)?;
        loading.done = done;
        loading.failed.extend(failed);
        self.files.extend(styles);
        if done < loading.total {
            return None;
        }
        let finished = self.loading.take()?;
        let first = finished.failed.first()?;
        Some(format!(
            "{} of {} files could not be mapped; the first: {first}",
            finished.failed.len(),
            finished.total
        ))
    }

    /// Paths not encoded yet by the batch in progress, which stops.
    fn stop(&mut self) -> Vec<PathBuf> {
        match self.loading.take() {
            Some(loading) => {
                loading.cancel.store(true, Ordering::Relaxed);
                loading.paths[loading.done.min(loading.paths.len())..].to_vec()
            }
            None => Vec::new(),
        }
    }

    fn start(&mut self, paths: Vec<PathBuf>, domain: Domain) -> Option<StyleBatch> {
        if paths.is_empty() {
            return None;
        }
        self.next_tag += 1;
        let cancel = Arc::new(AtomicBool::new(false));
        self.loading = Some(MapLoading {
            tag: self.next_tag,
            done: 0,
            total: paths.len(),
            failed: Vec::new(),
            paths: paths.clone(),
            cancel: cancel.clone(),
        });
        Some(StyleBatch {
            tag: self.next_tag,
            paths,
            done: 0,
            domain,
            cancel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(path: &str, v: f32) -> FileStyle {
        FileStyle {
            path: path.into(),
            code: vec![v; 2],
            thumbnail: image::RgbImage::new(1, 1),
        }
    }

    #[test]
    fn batches_report_progress_merge_and_cancel() {
        let mut map = StyleMap::default();
        let first = map
            .add(vec!["a".into(), "b".into(), "c".into()], Domain::B)
            .unwrap();
        assert_eq!(first.paths.len(), 3);
        assert_eq!(
            map.answer(first.tag, vec![style("a", 1.0)], vec![], 1),
            None
        );
        assert_eq!(map.loading.as_ref().unwrap().done, 1);
        // More files while it runs: the rest of the first batch and the new ones, once each.
        let second = map
            .add(vec!["c".into(), "d".into(), "a".into()], Domain::B)
            .unwrap();
        assert!(first.cancel.load(Ordering::Relaxed));
        assert_eq!(
            second.paths,
            vec![PathBuf::from("b"), "c".into(), "d".into()]
        );
        // A late answer of the stopped batch is ignored.
        assert_eq!(
            map.answer(first.tag, vec![style("b", 2.0)], vec![], 2),
            None
        );
        assert_eq!(map.files.len(), 1);
        let summary = map.answer(
            second.tag,
            vec![style("b", 2.0), style("d", 4.0)],
            vec!["c: not an image".into()],
            3,
        );
        assert_eq!(
            summary.as_deref(),
            Some("1 of 3 files could not be mapped; the first: c: not an image")
        );
        assert!(map.loading.is_none());
        assert_eq!(map.files.len(), 3);
        // Another encoder: every file again.
        let again = map.restart(Domain::A).unwrap();
        assert_eq!(again.paths.len(), 3);
        assert_eq!(again.domain, Domain::A);
        assert!(map.files.is_empty());
        map.cancel();
        assert!(again.cancel.load(Ordering::Relaxed));
        assert!(map.loading.is_none());
    }
}
