// The simulated NCCL (ENGINE_CUDA=SIM with MPI): the NCCL calls of the engine served
// over MPI between the processes of an mpirun, each with its own simulated device
// (whose memory is host memory, so MPI moves it directly). As with cuBLAS and cuDNN,
// the calls are checked as a GPU run would need them: an initialised communicator, one
// unique id on every rank, device pointers inside live allocations, a valid stream, and
// the same collective with the same count, type, operation and root on every rank (a
// mismatch hangs or corrupts a real run; here every rank gets ncclInvalidArgument and a
// report naming the ranks). Point-to-point calls inside ncclGroupStart/End are posted
// together at ncclGroupEnd; a send's count and type must match the peer's receive.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <nccl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "internal.h"

struct ncclComm {
  int rank = 0, nranks = 1, device = 0;
  MPI_Comm mpi = MPI_COMM_NULL;
};

namespace {

using cudasim::report;

size_t type_size(ncclDataType_t t) {
  switch (t) {
    case ncclInt8:
    case ncclUint8:
    case ncclFloat8e4m3:
    case ncclFloat8e5m2: return 1;
    case ncclFloat16:
    case ncclBfloat16: return 2;
    case ncclInt32:
    case ncclUint32:
    case ncclFloat32: return 4;
    case ncclInt64:
    case ncclUint64:
    case ncclFloat64: return 8;
    default: return 0;
  }
}

// The reduction of the simulator: sums of the types the engine reduces.
MPI_Datatype sum_type(ncclDataType_t t) {
  switch (t) {
    case ncclFloat32: return MPI_FLOAT;
    case ncclFloat64: return MPI_DOUBLE;
    case ncclInt32: return MPI_INT32_T;
    case ncclInt64: return MPI_INT64_T;
    default: return MPI_DATATYPE_NULL;
  }
}

ncclResult_t fail(ncclResult_t code, const std::string& msg) {
  report(msg);
  return code;
}

bool check_buffer(const char* call, const char* which, const void* p, size_t bytes, std::string* msg) {
  if (bytes == 0) return true;
  std::string why;
  if (cudasim::device_accessible(p, bytes, &why)) return true;
  *msg = std::string(call) + ": " + which + " (" + std::to_string(bytes) + " bytes) is not device memory: " + why;
  return false;
}

// What a collective call was, compared over the ranks.
struct CallShape {
  long long kind, count, type, op, root;
};

// Every rank's CallShape; ncclInvalidArgument on every rank when they differ.
ncclResult_t agree(ncclComm_t comm, const char* call, CallShape mine) {
  std::vector<CallShape> all(size_t(comm->nranks));
  MPI_Allgather(&mine, int(sizeof mine), MPI_BYTE, all.data(), int(sizeof mine), MPI_BYTE, comm->mpi);
  for (int r = 1; r < comm->nranks; ++r) {
    const CallShape& a = all[0];
    const CallShape& b = all[size_t(r)];
    if (std::memcmp(&a, &b, sizeof a) == 0) continue;
    std::ostringstream o;
    o << call << ": the ranks disagree: rank 0 called kind " << a.kind << " with count " << a.count << ", type "
      << a.type << ", op " << a.op << ", root " << a.root << "; rank " << r << " kind " << b.kind << " with count "
      << b.count << ", type " << b.type << ", op " << b.op << ", root " << b.root
      << " (a GPU run would hang or corrupt memory)";
    return fail(ncclInvalidArgument, o.str());
  }
  return ncclSuccess;
}

ncclResult_t check_comm(ncclComm_t comm, const char* call) {
  if (!comm || comm->mpi == MPI_COMM_NULL)
    return fail(ncclInvalidArgument, std::string(call) + ": the communicator is null or destroyed");
  return ncclSuccess;
}

// Runs `work` in stream order; a stream error becomes ncclInvalidArgument.
ncclResult_t on_stream(cudaStream_t stream, const char* call, std::function<void()> work) {
  cudaError_t e = cudasim::enqueue(stream, call, std::move(work));
  if (e != cudaSuccess)
    return fail(ncclInvalidArgument, std::string(call) + ": the stream is not usable: " + cudaGetErrorString(e));
  return ncclSuccess;
}

// Point-to-point calls of the open group.
struct P2p {
  bool send;
  void* buf;
  size_t count;
  ncclDataType_t type;
  int peer;
  ncclComm_t comm;
  cudaStream_t stream;
};
thread_local int g_group_depth = 0;
thread_local std::vector<P2p> g_pending;

ncclResult_t run_p2p(const std::vector<P2p>& ops) {
  if (ops.empty()) return ncclSuccess;
  // Headers (count, type) first, checked by the receiver; then the data.
  std::vector<MPI_Request> req;
  std::vector<long long> sent(ops.size() * 2), got(ops.size() * 2);
  for (size_t i = 0; i < ops.size(); ++i) {
    const P2p& p = ops[i];
    req.emplace_back();
    if (p.send) {
      sent[2 * i] = (long long)p.count;
      sent[2 * i + 1] = p.type;
      MPI_Isend(&sent[2 * i], 2, MPI_LONG_LONG, p.peer, 1, p.comm->mpi, &req.back());
    } else {
      MPI_Irecv(&got[2 * i], 2, MPI_LONG_LONG, p.peer, 1, p.comm->mpi, &req.back());
    }
  }
  MPI_Waitall(int(req.size()), req.data(), MPI_STATUSES_IGNORE);
  ncclResult_t rc = ncclSuccess;
  for (size_t i = 0; i < ops.size(); ++i) {
    const P2p& p = ops[i];
    if (p.send || (got[2 * i] == (long long)p.count && got[2 * i + 1] == p.type)) continue;
    std::ostringstream o;
    o << "ncclRecv on rank " << p.comm->rank << ": expects " << p.count << " elements of type " << p.type
      << " from rank " << p.peer << ", which sends " << got[2 * i] << " of type " << got[2 * i + 1];
    rc = fail(ncclInvalidArgument, o.str());
  }
  int local_ok = rc == ncclSuccess, all_ok = 0;
  MPI_Allreduce(&local_ok, &all_ok, 1, MPI_INT, MPI_LAND, ops[0].comm->mpi);
  if (!all_ok) return ncclInvalidArgument;
  req.clear();
  for (const P2p& p : ops) {
    req.emplace_back();
    int bytes = int(p.count * type_size(p.type));
    if (p.send)
      MPI_Isend(p.buf, bytes, MPI_BYTE, p.peer, 2, p.comm->mpi, &req.back());
    else
      MPI_Irecv(p.buf, bytes, MPI_BYTE, p.peer, 2, p.comm->mpi, &req.back());
  }
  MPI_Waitall(int(req.size()), req.data(), MPI_STATUSES_IGNORE);
  return ncclSuccess;
}

ncclResult_t p2p(bool send, void* buf, size_t count, ncclDataType_t type, int peer, ncclComm_t comm,
                 cudaStream_t stream) {
  const char* call = send ? "ncclSend" : "ncclRecv";
  if (ncclResult_t r = check_comm(comm, call)) return r;
  std::string msg;
  if (type_size(type) == 0) return fail(ncclInvalidArgument, std::string(call) + ": unknown data type");
  if (peer < 0 || peer >= comm->nranks)
    return fail(ncclInvalidArgument, std::string(call) + ": peer " + std::to_string(peer) + " is not a rank of " +
                                         std::to_string(comm->nranks));
  if (!check_buffer(call, "the buffer", buf, count * type_size(type), &msg)) return fail(ncclInvalidArgument, msg);
  P2p op{send, buf, count, type, peer, comm, stream};
  if (g_group_depth > 0) {
    g_pending.push_back(op);
    return ncclSuccess;
  }
  ncclResult_t rc = ncclSuccess;
  if (ncclResult_t r = on_stream(stream, call, [&] { rc = run_p2p({op}); })) return r;
  return rc;
}

}  // namespace

extern "C" {

const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "no error";
    case ncclSystemError: return "unhandled system error (simulated NCCL: see the cudasim report)";
    case ncclInvalidArgument: return "invalid argument (simulated NCCL: see the cudasim report)";
    case ncclInvalidUsage: return "invalid usage (simulated NCCL: see the cudasim report)";
    default: return "simulated NCCL error";
  }
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  if (!id) return fail(ncclInvalidArgument, "ncclGetUniqueId: null id");
  static std::atomic<long> counter{0};
  std::memset(id->internal, 0, sizeof id->internal);
  std::snprintf(id->internal, sizeof id->internal, "cudasim-nccl %ld %ld", long(::getpid()), counter++);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* out, int nranks, ncclUniqueId id, int rank) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited)
    return fail(ncclSystemError,
                "ncclCommInitRank: the simulated NCCL runs over MPI, which this process "
                "has not initialised (start it with mpirun)");
  int world_rank = 0, world_size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (nranks != world_size || rank != world_rank) {
    std::ostringstream o;
    o << "ncclCommInitRank: rank " << rank << " of " << nranks << " on MPI rank " << world_rank << " of " << world_size
      << ": the simulated NCCL serves one communicator with MPI's ranks";
    return fail(ncclInvalidArgument, o.str());
  }
  std::vector<ncclUniqueId> ids(static_cast<size_t>(nranks));
  MPI_Allgather(&id, int(sizeof id), MPI_BYTE, ids.data(), int(sizeof id), MPI_BYTE, MPI_COMM_WORLD);
  for (int r = 0; r < nranks; ++r)
    if (std::memcmp(&ids[size_t(r)], &ids[0], sizeof id) != 0)
      return fail(ncclInvalidArgument, "ncclCommInitRank: rank " + std::to_string(r) +
                                           " passed another unique id than rank 0: the id of ncclGetUniqueId must "
                                           "be broadcast from one rank to all");
  auto* c = new ncclComm;
  c->rank = rank;
  c->nranks = nranks;
  cudaGetDevice(&c->device);
  MPI_Comm_dup(MPI_COMM_WORLD, &c->mpi);
  *out = c;
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (ncclResult_t r = check_comm(comm, "ncclCommDestroy")) return r;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm->mpi);
  comm->mpi = MPI_COMM_NULL;
  delete comm;
  return ncclSuccess;
}

ncclResult_t ncclCommCount(const ncclComm_t comm, int* count) {
  if (ncclResult_t r = check_comm(comm, "ncclCommCount")) return r;
  *count = comm->nranks;
  return ncclSuccess;
}

ncclResult_t ncclCommUserRank(const ncclComm_t comm, int* rank) {
  if (ncclResult_t r = check_comm(comm, "ncclCommUserRank")) return r;
  *rank = comm->rank;
  return ncclSuccess;
}

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream) {
  if (ncclResult_t r = check_comm(comm, "ncclAllReduce")) return r;
  if (g_group_depth > 0) return fail(ncclInvalidUsage, "ncclAllReduce inside a group is not simulated");
  std::string msg;
  size_t bytes = count * type_size(type);
  if (op != ncclSum || sum_type(type) == MPI_DATATYPE_NULL)
    return fail(ncclInvalidArgument, "ncclAllReduce: the simulator sums f32, f64, i32 and i64 only (type " +
                                         std::to_string(type) + ", op " + std::to_string(op) + ")");
  if (!check_buffer("ncclAllReduce", "sendbuff", send, bytes, &msg) ||
      !check_buffer("ncclAllReduce", "recvbuff", recv, bytes, &msg))
    return fail(ncclInvalidArgument, msg);
  if (ncclResult_t r = agree(comm, "ncclAllReduce", {1, (long long)count, type, op, 0})) return r;
  return on_stream(stream, "ncclAllReduce", [=] {
    MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, int(count), sum_type(type), MPI_SUM, comm->mpi);
  });
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t type, int root, ncclComm_t comm,
                           cudaStream_t stream) {
  if (ncclResult_t r = check_comm(comm, "ncclBroadcast")) return r;
  std::string msg;
  size_t bytes = count * type_size(type);
  if (type_size(type) == 0) return fail(ncclInvalidArgument, "ncclBroadcast: unknown data type");
  if (root < 0 || root >= comm->nranks)
    return fail(ncclInvalidArgument, "ncclBroadcast: root " + std::to_string(root) + " is not a rank");
  if ((comm->rank == root && !check_buffer("ncclBroadcast", "sendbuff", send, bytes, &msg)) ||
      !check_buffer("ncclBroadcast", "recvbuff", recv, bytes, &msg))
    return fail(ncclInvalidArgument, msg);
  if (ncclResult_t r = agree(comm, "ncclBroadcast", {2, (long long)count, type, 0, root})) return r;
  return on_stream(stream, "ncclBroadcast", [=] {
    if (comm->rank == root && send != recv) std::memcpy(recv, send, bytes);
    MPI_Bcast(recv, int(bytes), MPI_BYTE, root, comm->mpi);
  });
}

ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, ncclDataType_t type, ncclComm_t comm,
                           cudaStream_t stream) {
  if (ncclResult_t r = check_comm(comm, "ncclAllGather")) return r;
  std::string msg;
  size_t bytes = count * type_size(type);
  if (type_size(type) == 0) return fail(ncclInvalidArgument, "ncclAllGather: unknown data type");
  if (!check_buffer("ncclAllGather", "sendbuff", send, bytes, &msg) ||
      !check_buffer("ncclAllGather", "recvbuff", recv, bytes * size_t(comm->nranks), &msg))
    return fail(ncclInvalidArgument, msg);
  if (ncclResult_t r = agree(comm, "ncclAllGather", {3, (long long)count, type, 0, 0})) return r;
  return on_stream(stream, "ncclAllGather",
                   [=] { MPI_Allgather(send, int(bytes), MPI_BYTE, recv, int(bytes), MPI_BYTE, comm->mpi); });
}

ncclResult_t ncclSend(const void* send, size_t count, ncclDataType_t type, int peer, ncclComm_t comm,
                      cudaStream_t stream) {
  return p2p(true, const_cast<void*>(send), count, type, peer, comm, stream);
}

ncclResult_t ncclRecv(void* recv, size_t count, ncclDataType_t type, int peer, ncclComm_t comm, cudaStream_t stream) {
  return p2p(false, recv, count, type, peer, comm, stream);
}

ncclResult_t ncclGroupStart() {
  ++g_group_depth;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (g_group_depth == 0) return fail(ncclInvalidUsage, "ncclGroupEnd without ncclGroupStart");
  if (--g_group_depth > 0) return ncclSuccess;
  std::vector<P2p> ops;
  ops.swap(g_pending);
  if (ops.empty()) return ncclSuccess;
  ncclResult_t rc = ncclSuccess;
  if (ncclResult_t r = on_stream(ops[0].stream, "ncclGroupEnd", [&] { rc = run_p2p(ops); })) return r;
  return rc;
}

}  // extern "C"
