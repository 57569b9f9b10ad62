//! The kernel's log (`/dev/kmsg`), read from a point on: how vmbench learns of an OOM kill in
//! a cgroup that an OCI runtime has already removed. The kernel logs each kill with the cgroup
//! whose limit was hit (`oom-kill:...,oom_memcg=/vmbench/<id>,...`).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

/// The kernel log, open at the point it was when [`Reader::at_end`] was called.
pub struct Reader {
    file: std::fs::File,
}

impl Reader {
    /// Opens the log past its current end; `None` where it cannot be read (not root).
    pub fn at_end() -> Option<Reader> {
        use std::io::Seek;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()?;
        file.seek(std::io::SeekFrom::End(0)).ok()?;
        Some(Reader { file })
    }

    /// Records logged since, one per read.
    fn records(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                // Overwritten records: go on with the next.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        out
    }

    /// OOM kills logged since whose cgroup is `cgroup` (a path from a hierarchy's root).
    pub fn oom_kills_in(&mut self, cgroup: &str) -> u64 {
        oom_kills(&self.records(), cgroup)
    }

    /// OOM kills logged since whose cgroup lies below `parent` (an engine's container cgroup
    /// inside the parent vmbench gave it).
    pub fn oom_kills_under(&mut self, parent: &str) -> u64 {
        oom_kills_below(&self.records(), parent)
    }
}

/// Counts `oom-kill:` records whose cgroup lies below `parent` (pure).
pub fn oom_kills_below(records: &[String], parent: &str) -> u64 {
    count_memcg(
        records,
        &format!("oom_memcg={}/", parent.trim_end_matches('/')),
    )
}

/// Counts `oom-kill:` records holding `needle`.
fn count_memcg(records: &[String], needle: &str) -> u64 {
    records
        .iter()
        .filter(|r| r.contains("oom-kill:") && r.contains(needle))
        .count() as u64
}

/// Counts `oom-kill:` records naming `cgroup` as the one whose limit was hit (pure).
pub fn oom_kills(records: &[String], cgroup: &str) -> u64 {
    count_memcg(records, &format!("oom_memcg={cgroup},"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn kills_below_a_parent_count_its_containers_only() {
        let records = vec![
            "3,1,2,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/vmbench/vmbench-7-6/61a2,task=w\n".to_string(),
            "3,2,3,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/vmbench/vmbench-7-60/ff,task=w\n".to_string(),
            "3,3,4,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/vmbench/vmbench-7-6,task=w\n".to_string(),
        ];
        assert_eq!(super::oom_kills_below(&records, "/vmbench/vmbench-7-6"), 1);
        assert_eq!(
            super::oom_kills_below(&records, "/vmbench/vmbench-7-60/"),
            1
        );
        assert_eq!(super::oom_kills_below(&records, "/vmbench/vmbench-7-9"), 0);
    }

    #[test]
    fn kills_are_counted_for_their_cgroup_only() {
        let records = vec![
            "3,1234,5678,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/vmbench/vmbench-7-1,task_memcg=/vmbench/vmbench-7-1,task=vmbench-workloa,pid=42,uid=0\n".to_string(),
            "3,1235,5679,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/vmbench/vmbench-7-10,task_memcg=/vmbench/vmbench-7-10,task=x,pid=43,uid=0\n".to_string(),
            "6,1236,5680,-;something else\n".to_string(),
        ];
        assert_eq!(super::oom_kills(&records, "/vmbench/vmbench-7-1"), 1);
        assert_eq!(super::oom_kills(&records, "/vmbench/vmbench-7-2"), 0);
    }
}
